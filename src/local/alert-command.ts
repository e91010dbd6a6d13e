import { createHash } from 'node:crypto';

/** Alertmanager's "zero" time: what it sends as endsAt for an alert that is still firing. */
const NOT_ENDED = '0001-01-01T00:00:00Z';

export interface AlertCommand {
  alertname: string;
  labels: Record<string, string>;
  resolve: boolean;
}

/** `/alert <alertname> [label=value …] [--resolve]`, as typed in the shell; a string says what is wrong. */
export function parseAlertCommand(words: readonly string[]): AlertCommand | string {
  const usage =
    'Usage: /alert <alertname> [label=value …] [--resolve], e.g. /alert HighLatency deployment=api env=staging';
  const [alertname, ...rest] = words;
  // Prometheus label values are any text; names and alertnames follow its name rules.
  if (!alertname || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(alertname)) return usage;
  const labels: Record<string, string> = { alertname };
  let resolve = false;
  for (const word of rest) {
    if (word === '--resolve') {
      resolve = true;
      continue;
    }
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)=(.+)$/.exec(word);
    if (!match?.[1] || match[2] === undefined) return `"${word}" is not a label; write name=value. ${usage}`;
    labels[match[1]] = match[2];
  }
  return { alertname, labels, resolve };
}

/** A stable fingerprint of a label set, as Alertmanager derives one from the labels alone. */
function fingerprintOf(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\xff');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * Builds Alertmanager's webhook notification (payload version 4) for one alert grouped by
 * alertname, as a route with `group_by: [alertname]` would send it. The start time of a firing
 * alert is kept, so that resolving it later names the same alert, as Alertmanager does.
 */
export class AlertmanagerNotifier {
  private readonly started = new Map<string, string>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  notification(command: AlertCommand): Record<string, unknown> {
    const fingerprint = fingerprintOf(command.labels);
    const now = this.now().toISOString();
    const startsAt = this.started.get(fingerprint) ?? now;
    if (command.resolve) this.started.delete(fingerprint);
    else this.started.set(fingerprint, startsAt);
    const status = command.resolve ? 'resolved' : 'firing';
    const annotations = { summary: `${command.alertname} (sent from the opsbot shell)` };
    return {
      version: '4',
      groupKey: `{}:{alertname="${command.alertname}"}`,
      truncatedAlerts: 0,
      status,
      receiver: 'opsbot',
      groupLabels: { alertname: command.alertname },
      commonLabels: command.labels,
      commonAnnotations: annotations,
      externalURL: 'http://localhost:9093',
      alerts: [
        {
          status,
          labels: command.labels,
          annotations,
          startsAt,
          endsAt: command.resolve ? now : NOT_ENDED,
          generatorURL: '',
          fingerprint,
        },
      ],
    };
  }
}

/** Posts a notification to the bot's own Alertmanager webhook, as Alertmanager would; says what came back. */
export async function sendToWebhook(
  url: string,
  body: unknown,
  token: string | undefined,
): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Alertmanager/0.25.0',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, text: await response.text() };
}

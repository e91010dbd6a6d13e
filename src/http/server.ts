import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** A check's outcome; `error` is for the log only, never for the anonymous caller of /readyz. */
export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

export interface HttpOptions {
  log: Logger;
  metrics: Metrics;
  slack?: RequestListener | undefined;
  readiness: ReadinessCheck[];
  /** Checks another process of this unit ran (the worker's); joined with ours by name. */
  moreReadiness?(): Promise<CheckResult[]>;
  /** Renders /metrics; by default this process's registry. */
  renderMetrics?(): Promise<string>;
  /** Extra routes, e.g. the alert webhooks: "POST /webhooks/alertmanager". */
  routes?: Record<string, RequestListener>;
  /** Called before /metrics renders, to refresh gauges such as queue depth. */
  beforeMetrics?(): Promise<void>;
  /** True from the moment shutdown begins: /readyz answers 503 so load balancers stop sending work. */
  draining(): boolean;
}

const CHECK_TIMEOUT_MS = 2_000;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

async function timed(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { name: check.name, ok: true };
  } catch (err) {
    const text = (err as { userMessage?: string }).userMessage ?? (err as Error).message;
    return { name: check.name, ok: false, error: text };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs every check; a name that another process also checked is ok only when both are, and a
 * process that cannot answer at all counts as a failed check of its own.
 */
export async function runChecks(
  checks: readonly ReadinessCheck[],
  more?: () => Promise<CheckResult[]>,
): Promise<CheckResult[]> {
  const [own, other] = await Promise.all([
    Promise.all(checks.map(timed)),
    more
      ? more().catch((err: unknown): CheckResult[] => [{ name: 'worker', ok: false, error: String(err) }])
      : [],
  ]);
  const joined = new Map(own.map((c) => [c.name, c]));
  for (const c of other) {
    const mine = joined.get(c.name);
    joined.set(c.name, !mine || mine.ok ? c : mine);
  }
  return [...joined.values()];
}

/** One HTTP server for Slack, the webhooks and the operational endpoints. */
export function createHttpServer(options: HttpOptions): Server {
  // Only the routes that do work are timed, by name: an unknown path never becomes a label.
  const timedRoute = (req: IncomingMessage, res: ServerResponse, name: string, handler: RequestListener) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.metrics.httpDuration.observe({ route: name, status: String(res.statusCode) }, seconds);
    });
    return handler(req, res);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = `${req.method} ${path}`;
    if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok' });
    if (route === 'GET /readyz') {
      if (options.draining()) return sendJson(res, 503, { status: 'draining', checks: [] });
      void runChecks(options.readiness, options.moreReadiness).then((checks) => {
        const ok = checks.every((c) => c.ok);
        for (const c of checks) {
          if (!c.ok) options.log.warn({ dependency: c.name, error: c.error }, 'readiness check failed');
        }
        // Anyone can call /readyz: it names what is failing, and upstream error text stays in the log.
        sendJson(res, ok ? 200 : 503, {
          status: ok ? 'ready' : 'not ready',
          checks: checks.map(({ name, ok }) => ({ name, ok })),
        });
      });
      return;
    }
    if (route === 'GET /metrics') {
      void (options.beforeMetrics?.() ?? Promise.resolve())
        .catch((err: unknown) => options.log.warn({ err }, 'could not refresh metrics'))
        .then(() => options.renderMetrics?.() ?? options.metrics.registry.metrics())
        .then((text) =>
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
        );
      return;
    }
    if (path === '/slack/events' && options.slack) return timedRoute(req, res, 'slack', options.slack);
    const handler = options.routes?.[route];
    if (handler) return timedRoute(req, res, path, handler);
    sendJson(res, 404, { error: 'not_found' });
  });
  // Keep-alive sockets from load balancers must not hold shutdown open.
  server.keepAliveTimeout = 5_000;
  return server;
}

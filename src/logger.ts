import { type DestinationStream, type Logger, pino } from 'pino';

/** Every key under which a credential could travel; pino replaces the value before it is written. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers["x-slack-signature"]',
  'signingSecret',
  '*.signingSecret',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'OPSBOT_WEBHOOK_TOKEN',
  'PAGERDUTY_WEBHOOK_SECRET',
  '*.SLACK_BOT_TOKEN',
  '*.SLACK_SIGNING_SECRET',
  '*.SLACK_APP_TOKEN',
  '*.GITHUB_TOKEN',
  '*.GITHUB_APP_PRIVATE_KEY',
  '*.OPSBOT_WEBHOOK_TOKEN',
  '*.PAGERDUTY_WEBHOOK_SECRET',
  // ioredis puts the arguments of a failed command on its error: AUTH's are the Redis password.
  'err.command.args',
  'err.cause.command.args',
  '*.err.command.args',
  'err.previousErrors[*].command.args',
  'err.config',
  'err.request',
  'err.response',
  'err.cause.request',
  'err.cause.response',
  'err.cause.headers',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'opsbot' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

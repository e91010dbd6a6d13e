// From the Web API client, which Bolt shares: a worker logs through it without loading Bolt.
import { type Logger as BoltLogger, LogLevel } from '@slack/web-api';
import type { Logger } from 'pino';

/** Bolt and the Web API client log through our pino logger, so their lines carry the same format and redaction. */
export function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => log.debug({ bolt: msg.map(String).join(' ') }, 'bolt'),
    info: (...msg: unknown[]) => log.info({ bolt: msg.map(String).join(' ') }, 'bolt'),
    warn: (...msg: unknown[]) => log.warn({ bolt: msg.map(String).join(' ') }, 'bolt'),
    error: (...msg: unknown[]) => log.error({ bolt: msg.map(String).join(' ') }, 'bolt'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

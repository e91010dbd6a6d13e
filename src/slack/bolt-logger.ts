import { type Logger as BoltLogger, LogLevel } from '@slack/bolt';
import type { Logger } from 'pino';

/** Bolt logs through our pino logger, so its lines carry the same format and redaction. */
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

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Shared plumbing for the local HTTP fakes: start/stop, bounded body reads, JSON and form bodies. */

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface RunningServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface StartServerOptions {
  host?: string;
  port?: number;
}

/** An error that already knows the HTTP answer it should become. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: unknown, message = `HTTP ${status}`) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.body = body;
  }
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export async function startServer(
  handler: RequestHandler,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => answerError(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets from SDK clients would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

function answerError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, err.body);
    return;
  }
  sendJson(res, 500, {
    message: 'Internal Server Error',
    error: err instanceof Error ? err.message : String(err),
  });
}

/** Reads the whole body; past `limitBytes` it keeps draining (so the client sees the answer) and then fails with 413. */
export async function readBody(req: IncomingMessage, limitBytes = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size <= limitBytes) chunks.push(buf);
  }
  if (size > limitBytes) {
    throw new HttpError(413, { message: 'Payload Too Large' }, `body exceeds ${limitBytes} bytes`);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, headers);
  res.end();
}

export function parseUrlencoded(text: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(text));
}

/** Parses JSON, turning malformed input into a 400 with the given body. */
export function parseJson(text: string, errorBody: unknown = { message: 'Problems parsing JSON' }): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, errorBody, 'malformed JSON body');
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes a request body by its content type: JSON, urlencoded, or (unlabelled) either. */
export function parseBody(contentType: string | undefined, raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8');
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/x-www-form-urlencoded') return parseUrlencoded(text);
  const looksJson = type === 'application/json' || /^\s*[[{]/.test(text);
  if (!looksJson) return parseUrlencoded(text);
  const parsed = parseJson(text);
  if (!isRecord(parsed)) throw new HttpError(400, { message: 'Body should be a JSON object' });
  return parsed;
}

/** Resolves once `fn` returns something other than undefined/null/false; `fn` may throw while not ready. */
export async function pollUntil<T>(fn: () => T | undefined | null | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = fn();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms${reason}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

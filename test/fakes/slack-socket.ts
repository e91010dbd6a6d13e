import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { blockErrors } from './block-kit.js';
import { pollUntil } from './http-server.js';

/**
 * A local Slack Socket Mode endpoint, speaking the protocol of
 * https://docs.slack.dev/apis/events-api/using-socket-mode as @slack/socket-mode's SocketModeClient
 * expects it (SocketModeClient.onWebSocketMessage, SlackWebSocket):
 * - apps.connections.open hands out a single-use `ws://127.0.0.1…/link/?ticket=…` URL;
 * - on connect Slack sends `hello` (connection_info.app_id, num_connections, debug_info);
 * - every payload comes in an envelope `{ envelope_id, type, payload, accepts_response_payload }`
 *   (types slash_commands, interactive, events_api) and must be acknowledged with
 *   `{ envelope_id, payload? }`, within 3 seconds, or Slack may retry it, on any connection;
 * - `disconnect` with reason `refresh_requested` (or `warning`, `link_disabled`) asks the app to
 *   reconnect; an app may hold up to 10 connections, and each envelope goes to one of them.
 */

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

export interface SocketAck {
  envelopeId: string;
  connection: number;
  /** The app's response (for a slash command, the message shown to the user), if any. */
  payload: Record<string, unknown> | undefined;
  /** What Slack would refuse in the response's blocks (Block Kit rules), empty when valid. */
  blockErrors: string[];
  at: number;
}

export interface SocketConnectionInfo {
  id: number;
  open: boolean;
  openedAt: number;
}

export interface SendOptions {
  /** The connection to deliver to; default: the newest open one. */
  connection?: number;
  /** Reuse an envelope id, as Slack does when it retries an envelope nobody acknowledged. */
  envelopeId?: string;
  retryAttempt?: number;
  retryReason?: string;
  /** How long to wait for the ack; Slack's deadline is 3 seconds. */
  ackTimeoutMs?: number;
}

export interface SlackSocketServer {
  /** A fresh single-use WebSocket URL, as apps.connections.open returns it. */
  openUrl(): string;
  connections(): SocketConnectionInfo[];
  /** Resolves with the open connections once there are exactly `count`. */
  waitForOpen(count: number, timeoutMs?: number): Promise<SocketConnectionInfo[]>;
  /** Delivers one envelope and resolves with its ack; rejects if none comes in time. */
  send(type: EnvelopeType, payload: object, options?: SendOptions): Promise<SocketAck>;
  /** Sends `disconnect` with reason refresh_requested: the app should reconnect. */
  requestRefresh(connection: number): void;
  /** Cuts a connection without a close frame, as a network failure or a recycled host does. */
  drop(connection: number): void;
  readonly acks: readonly SocketAck[];
  close(): Promise<void>;
}

const ACK_DEADLINE_MS = 3_000;
const DEBUG_INFO = { host: 'applink-fake-1', build_number: 1, approximate_connection_time: 18_060 };

interface Connection {
  id: number;
  socket: WebSocket;
  open: boolean;
  openedAt: number;
}

function reject(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startSlackSocketServer(appId: string): Promise<SlackSocketServer> {
  const tickets = new Set<string>();
  const connections: Connection[] = [];
  const acks: SocketAck[] = [];
  const waiting = new Map<string, { connection: number; resolve(ack: SocketAck): void }>();
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'ws://fake');
    const ticket = url.searchParams.get('ticket') ?? '';
    // A ticket opens one connection, once: a reconnect must call apps.connections.open again.
    if (url.pathname !== '/link/' || !tickets.delete(ticket)) return reject(socket, '401 Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection: Connection = {
        id: connections.length + 1,
        socket: ws,
        open: true,
        openedAt: Date.now(),
      };
      connections.push(connection);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let message: { envelope_id?: unknown; payload?: unknown };
        try {
          message = JSON.parse(String(data)) as typeof message;
        } catch {
          return;
        }
        if (typeof message.envelope_id !== 'string') return;
        const payload =
          typeof message.payload === 'object' && message.payload !== null
            ? (message.payload as Record<string, unknown>)
            : undefined;
        const blocks = Array.isArray(payload?.blocks) ? (payload.blocks as unknown[]) : [];
        const ack: SocketAck = {
          envelopeId: message.envelope_id,
          connection: connection.id,
          payload: payload && Object.keys(payload).length > 0 ? payload : undefined,
          blockErrors: blockErrors(blocks),
          at: Date.now(),
        };
        acks.push(ack);
        const pending = waiting.get(`${message.envelope_id}@${connection.id}`);
        pending?.resolve(ack);
      });
      ws.on('close', () => {
        connection.open = false;
      });
      const open = connections.filter((c) => c.open).length;
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: open,
          debug_info: DEBUG_INFO,
          connection_info: { app_id: appId },
        }),
      );
    });
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;

  const find = (id: number): Connection => {
    const connection = connections.find((c) => c.id === id);
    if (!connection?.open) throw new Error(`socket connection ${id} is not open`);
    return connection;
  };

  return {
    openUrl() {
      const ticket = randomBytes(12).toString('hex');
      tickets.add(ticket);
      return `ws://127.0.0.1:${port}/link/?ticket=${ticket}&app_id=${appId}`;
    },
    connections: () => connections.map(({ id, open, openedAt }) => ({ id, open, openedAt })),
    waitForOpen: (count, timeoutMs = 15_000) =>
      pollUntil(() => {
        const open = connections.filter((c) => c.open && c.socket.readyState === c.socket.OPEN);
        return open.length === count && open.map(({ id, open: o, openedAt }) => ({ id, open: o, openedAt }));
      }, timeoutMs),
    send(type, payload, options = {}) {
      const target = options.connection ?? connections.filter((c) => c.open).at(-1)?.id ?? 0;
      const connection = find(target);
      const envelopeId = options.envelopeId ?? randomUUID();
      const envelope = {
        envelope_id: envelopeId,
        type,
        payload: type === 'events_api' ? { event: payload } : payload,
        accepts_response_payload: type !== 'events_api',
        ...(options.retryAttempt === undefined
          ? {}
          : { retry_attempt: options.retryAttempt, retry_reason: options.retryReason ?? 'timeout' }),
      };
      return new Promise<SocketAck>((resolve, fail) => {
        const key = `${envelopeId}@${connection.id}`;
        const timer = setTimeout(() => {
          waiting.delete(key);
          fail(
            new Error(`no ack for envelope ${envelopeId} on connection ${connection.id} within the deadline`),
          );
        }, options.ackTimeoutMs ?? ACK_DEADLINE_MS);
        waiting.set(key, {
          connection: connection.id,
          resolve: (ack) => {
            clearTimeout(timer);
            waiting.delete(key);
            resolve(ack);
          },
        });
        connection.socket.send(JSON.stringify(envelope));
      });
    },
    requestRefresh(id) {
      find(id).socket.send(
        JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: DEBUG_INFO }),
      );
    },
    drop(id) {
      const connection = find(id);
      connection.open = false;
      connection.socket.terminate();
    },
    acks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.socket.terminate();
        wss.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

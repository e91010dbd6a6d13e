import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BodyTooLarge, readBody } from '../http/body.js';
import { mediaType } from '../http/content-type.js';
import { type Verification, verifySlackSignature } from './verify.js';
import { claimOfRaw, type ExpectedWorkspace, workspaceRefusal } from './workspace.js';

export interface GateOptions {
  signingSecret: string;
  /** Bolt's listener; it verifies again, so a flaw here can never open a hole. */
  next: RequestListener;
  log: Logger;
  /** Told about every refused request, e.g. to audit a forged button click. */
  onRejected?(rawBody: Buffer, reason: Exclude<Verification, { ok: true }>['reason']): void;
  bodyLimit?: number;
  /** SLACK_TEAM_ID / SLACK_APP_ID: signed requests from another workspace or app get 403. */
  workspace?: ExpectedWorkspace;
}

function refuse(res: ServerResponse, status: number, error: string, close = true): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    // A refused oversized body is still being drained; closing now would cut the client off mid-send.
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(JSON.stringify({ error }));
}

/**
 * In front of Bolt on POST /slack/events: bodies over the limit get 413 without being buffered,
 * and requests without a valid, fresh signature get 401 before anything is parsed.
 */
export function slackEventsGate(options: GateOptions): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return refuse(res, 405, 'method_not_allowed');
    readBody(req, options.bodyLimit).then(
      (body) => {
        const header = (name: string) => {
          const value = req.headers[name];
          return typeof value === 'string' ? value : undefined;
        };
        const verdict = verifySlackSignature(
          options.signingSecret,
          { signature: header('x-slack-signature'), timestamp: header('x-slack-request-timestamp') },
          body,
          Math.floor(Date.now() / 1000),
        );
        if (!verdict.ok) {
          options.log.warn(
            { reason: verdict.reason, ip: req.socket.remoteAddress },
            'refused a Slack request with a bad signature',
          );
          options.onRejected?.(body, verdict.reason);
          return refuse(res, 401, 'invalid_signature');
        }
        if (options.workspace?.teamId || options.workspace?.appId) {
          const claim = claimOfRaw(body, header('content-type'));
          const refused = workspaceRefusal(options.workspace, claim);
          if (refused) {
            options.log.warn(
              { field: refused, teamId: claim.teamId, appId: claim.appId, user: claim.userId },
              'refused a signed Slack request for another workspace or app',
            );
            return refuse(res, 403, 'wrong_workspace');
          }
        }
        // Bolt reads a pre-buffered body from rawBody instead of the consumed stream.
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
        // Bolt matches the header exactly; a `; charset=utf-8` would make it parse a form as JSON.
        if (req.headers['content-type']) req.headers['content-type'] = mediaType(req.headers['content-type']);
        options.next(req, res);
      },
      (err: unknown) => {
        if (err instanceof BodyTooLarge) return refuse(res, 413, 'payload_too_large', false);
        options.log.warn({ err }, 'could not read a Slack request');
        refuse(res, 400, 'bad_request');
      },
    );
  };
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http/body.js';

interface StandInIssue {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  labels: string[];
  comments: { id: number; body: string }[];
}

/** First lines of a Markdown body for the terminal; HTML comments (opsbot's markers) left out. */
function preview(body: string, lines = 6): string {
  const shown = body
    .replace(/<!--[\s\S]*?-->/g, '')
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, lines);
  return shown.map((l) => `    ${l}`).join('\n');
}

/**
 * The GitHub Issues REST routes incidents use (list, create, update, comments), served on loopback
 * for local mode: the incident's issue lives here and what is written to it is printed in the
 * terminal. Pull requests are not kept, so `--pr` finds none (404, as GitHub answers).
 */
export class GitHubStandIn {
  private readonly issues = new Map<string, StandInIssue[]>();
  private server: Server | undefined;
  url = '';

  constructor(private readonly print: (text: string) => void) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    };
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route = /^\/repos\/([^/]+)\/([^/]+)\/issues(?:\/(\d+)(\/comments)?)?$/.exec(path);
    if (!route) return send(404, { message: 'Not Found' });
    const [, owner = '', repo = '', number, comments] = route;
    const slug = `${owner}/${repo}`;
    const list = this.issues.get(slug) ?? [];
    this.issues.set(slug, list);
    let input: Record<string, unknown> = {};
    try {
      const raw = (await readBody(req)).toString('utf8');
      input = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      return send(400, { message: 'Problems parsing JSON' });
    }
    const issue = number ? list.find((i) => i.number === Number(number)) : undefined;
    if (number && !issue) return send(404, { message: 'Not Found' });
    const shape = (i: StandInIssue) => ({
      number: i.number,
      title: i.title,
      body: i.body,
      state: i.state,
      labels: i.labels.map((name) => ({ name })),
      html_url: `local:${slug}#${i.number}`,
    });

    if (!number && req.method === 'GET') return send(200, list.map(shape));
    if (!number && req.method === 'POST') {
      const created: StandInIssue = {
        number: list.length + 1,
        title: String(input.title ?? ''),
        body: String(input.body ?? ''),
        state: 'open',
        labels: Array.isArray(input.labels) ? input.labels.map(String) : [],
        comments: [],
      };
      list.push(created);
      this.print(
        `\n📋 GitHub issue ${slug}#${created.number} opened (local stand-in): ${created.title}\n${preview(created.body)}`,
      );
      return send(201, shape(created));
    }
    if (issue && comments && req.method === 'GET') return send(200, issue.comments);
    if (issue && comments && req.method === 'POST') {
      const comment = { id: issue.comments.length + 1, body: String(input.body ?? '') };
      issue.comments.push(comment);
      this.print(`\n💬 Comment on ${slug}#${issue.number}:\n${preview(comment.body, 12)}`);
      return send(201, comment);
    }
    if (issue && !comments && req.method === 'PATCH') {
      const wasOpen = issue.state === 'open';
      if (typeof input.title === 'string') issue.title = input.title;
      if (typeof input.body === 'string') issue.body = input.body;
      if (Array.isArray(input.labels)) issue.labels = input.labels.map(String);
      if (input.state === 'open' || input.state === 'closed') issue.state = input.state;
      const change = wasOpen && issue.state === 'closed' ? 'closed' : 'updated';
      this.print(`📋 ${slug}#${issue.number} ${change} (labels: ${issue.labels.join(', ')})`);
      return send(200, shape(issue));
    }
    if (issue && !comments && req.method === 'GET') return send(200, shape(issue));
    return send(404, { message: 'Not Found' });
  }
}

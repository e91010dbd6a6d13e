/**
 * A chat message in neutral form. The Slack adapter renders it as Block Kit, the shell as text,
 * so commands never depend on either.
 */
export interface Button {
  /** Action id routed by the interactivity handler, e.g. "approval.approve". */
  action: string;
  label: string;
  /** Opaque reference to state kept server-side; never trusted for anything else. */
  value: string;
  style?: 'primary' | 'danger';
}

export interface Message {
  /** Fallback and notification text: one line that stands on its own. */
  text: string;
  /** Body lines in Slack mrkdwn: *bold*, `code`. */
  lines?: string[];
  fields?: [label: string, value: string][];
  buttons?: Button[];
  /** Small print under the message, e.g. "sandbox cluster" or a job id. */
  context?: string[];
}

export function message(text: string, extra: Omit<Message, 'text'> = {}): Message {
  return { text, ...extra };
}

/** Appends context lines without mutating the original. */
export function withContext(msg: Message, ...context: string[]): Message {
  return { ...msg, context: [...(msg.context ?? []), ...context] };
}

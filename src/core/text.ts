/**
 * Text from users and alerts, made safe for the place it goes. Slack mrkdwn treats `&`, `<` and `>`
 * as control characters (https://api.slack.com/reference/surfaces/formatting#escaping): `<!channel>`,
 * `<@U…>` and `<url|label>` only work unescaped. GitHub turns `@name` into a notification and `#12`
 * into a cross-reference (https://docs.github.com/en/get-started/writing-on-github/getting-started-with-writing-and-formatting-on-github/basic-writing-and-formatting-syntax#mentioning-people-and-teams).
 */

/** Whitespace and line breaks of every kind (U+2028, U+2029 too) and control characters (C0, DEL, C1). */
const BREAKS = /[\s\p{Cc}]+/gu;
const ZWJ = '\u200d';

/** Collapses every run of whitespace and control characters into one space: one line, trimmed. */
export function oneLine(text: string): string {
  return text.replace(BREAKS, ' ').trim();
}

/** Escapes Slack's three control characters, so no mention, special command or link can be drawn. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** User or alert text for one line of a Slack message. */
export function slackText(text: string): string {
  return escapeMrkdwn(oneLine(text));
}

/** True for absolute http: and https: URLs, the only links opsbot draws. */
export function isWebUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const protocol = new URL(url).protocol;
  return protocol === 'http:' || protocol === 'https:';
}

/**
 * A Slack link `<url|label>`, for http(s) URLs only. Anything else (`javascript:`, `slack:`, junk)
 * is shown as escaped text, never as a link.
 */
export function slackLink(url: string, label: string): string {
  const safeLabel = slackText(label).replace(/\|/g, '¦');
  if (!isWebUrl(url)) return `${safeLabel} (${slackText(url)})`;
  // `<`, `>` and `|` end the link in mrkdwn; percent-encoding them keeps the URL's meaning.
  const href = oneLine(url).replace(/[<>| ]/g, (c) => encodeURIComponent(c));
  return `<${href}|${safeLabel}>`;
}

/**
 * Quoted text for GitHub markdown: `@mention` and `#123` are broken with a zero-width joiner, and
 * `<`/`>` are escaped so no HTML (or opsbot's own `<!-- marker -->` comments) can be forged. `&` is
 * left alone: an entity shows as its character, and text escaped for Slack first reads the same.
 */
export function escapeGitHub(text: string): string {
  return text
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(?=[A-Za-z0-9_-])/g, `@${ZWJ}`)
    .replace(/#(?=\d)/g, `#${ZWJ}`);
}

/** An issue title is plain text, not markdown: one line, mentions and references broken, nothing else. */
export function gitHubTitle(text: string): string {
  return oneLine(text)
    .replace(/@(?=[A-Za-z0-9_-])/g, `@${ZWJ}`)
    .replace(/#(?=\d)/g, `#${ZWJ}`);
}

/** User or alert text for one line (or one table cell) of GitHub markdown. */
export function gitHubText(text: string): string {
  return escapeGitHub(oneLine(text)).replace(/\|/g, '\\|');
}

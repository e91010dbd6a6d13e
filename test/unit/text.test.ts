import { describe, expect, it } from 'vitest';
import {
  escapeGitHub,
  escapeMrkdwn,
  gitHubText,
  gitHubTitle,
  oneLine,
  slackLink,
  slackText,
} from '../../src/core/text.js';

const ZWJ = '\u200d';

describe('text for Slack', () => {
  it('escapes the three control characters, so no mention, command or link can be drawn', () => {
    expect(escapeMrkdwn('<!channel> <@U123> <https://evil.example|click> & more')).toBe(
      '&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; more',
    );
  });

  it('keeps user text on one line, whatever the line break', () => {
    for (const br of ['\n', '\r\n', '\u2028', '\u2029', '\u0085', '\v', '\f', '\u0000', '\t\t'])
      expect(oneLine(`a${br}*Plan*${br}b`)).toBe('a *Plan* b');
    expect(slackText('  ok\n<!here>  ')).toBe('ok &lt;!here&gt;');
  });

  it('draws links for http(s) URLs only, and never lets a URL or label break out of the link', () => {
    expect(slackLink('https://grafana.example.com/d/x?a=1&b=2', 'dashboard')).toBe(
      '<https://grafana.example.com/d/x?a=1&b=2|dashboard>',
    );
    expect(slackLink('https://x.example/a|b>c<d', 'see <!here>')).toBe(
      '<https://x.example/a%7Cb%3Ec%3Cd|see &lt;!here&gt;>',
    );
    for (const url of [
      'javascript:alert(1)',
      'slack://open',
      'data:text/html,x',
      'not a url',
      '//evil.example',
    ])
      expect(slackLink(url, 'runbook')).not.toMatch(/^</);
    expect(slackLink('javascript:alert(1)', 'runbook')).toBe('runbook (javascript:alert(1))');
  });
});

describe('text for GitHub', () => {
  it('breaks @mentions and #references with a zero-width joiner, and escapes HTML', () => {
    expect(escapeGitHub('ping @acme/security and @bob about #12, not foo@bar or C#')).toBe(
      `ping @${ZWJ}acme/security and @${ZWJ}bob about #${ZWJ}12, not foo@${ZWJ}bar or C#`,
    );
    expect(escapeGitHub('<!-- opsbot:incident:x --> <img src=x>')).toBe(
      '&lt;!-- opsbot:incident:x --&gt; &lt;img src=x&gt;',
    );
    expect(gitHubText('a|b\nc')).toBe('a\\|b c');
    expect(gitHubTitle('[sev1] @acme/security #3 <b>\nx')).toBe(`[sev1] @${ZWJ}acme/security #${ZWJ}3 <b> x`);
  });
});

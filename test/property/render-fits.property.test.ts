import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Incident, summaryMessage } from '../../src/core/incident.js';
import type { Message } from '../../src/core/message.js';
import { clipText, fitText, toBlocks } from '../../src/slack/render.js';
import { blockErrors, characters } from '../fakes/block-kit.js';

// Text that is long in every way Slack counts: astral emoji (2 UTF-16 units, 1 character), a ZWJ
// family, combining marks, CJK, mrkdwn links and escapes that must not be cut in half.
const piece = fc.constantFrom(
  'a',
  'ü',
  '😀',
  '👩‍👩‍👧',
  'é',
  '漢',
  '<https://example.com/runbook|runbook>',
  '&amp;',
  '\n',
  ' ',
  '*b*',
);
const text = (max: number) =>
  fc.oneof(
    fc.array(piece, { maxLength: 40 }).map((p) => p.join('')),
    fc.tuple(piece, fc.integer({ min: 1, max })).map(([p, n]) => p.repeat(n)),
  );

const messageArb: fc.Arbitrary<Message> = fc.record(
  {
    text: text(20_000),
    lines: fc.array(text(2_000), { maxLength: 6 }),
    fields: fc.array(fc.tuple(text(200), text(2_500)), { maxLength: 600 }),
    buttons: fc.array(
      fc.record({
        action: fc.constantFrom('approval.approve', 'incident.action'),
        label: text(120),
        value: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), text(2_500)),
      }),
      { maxLength: 30 },
    ),
    context: fc.array(text(3_500), { maxLength: 14 }),
  },
  { requiredKeys: ['text'] },
);

describe('every rendered message fits Block Kit', () => {
  it('toBlocks never produces blocks Slack would refuse, whatever the message', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const blocks = toBlocks(message);
        expect(blockErrors(blocks)).toEqual([]);
        // Nothing is cut inside a surrogate pair: the JSON Slack receives is well-formed UTF-16.
        expect(JSON.stringify(blocks)).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i);
      }),
      { numRuns: 150 },
    );
  });

  it('fitText keeps message text within 40,000 characters, counting as Slack does', () => {
    expect(fitText('😀'.repeat(40_000))).toBe('😀'.repeat(40_000));
    const clipped = fitText('😀'.repeat(40_001));
    expect(characters(clipped)).toBe(40_000);
    expect(clipped.endsWith('…')).toBe(true);
  });

  it('keeps what fits and marks what it cut', () => {
    const blocks = toBlocks({
      text: 'x',
      lines: ['a'.repeat(5_000)],
      fields: [['Labels', 'b'.repeat(2_100)]],
    });
    const [body, fields] = blocks as { text?: { text: string }; fields?: { text: string }[] }[];
    expect(characters(body?.text?.text ?? '')).toBe(3_000);
    expect(body?.text?.text.endsWith('…')).toBe(true);
    expect(fields?.fields?.[0]?.text.startsWith('*Labels*\nbbb')).toBe(true);
    expect(characters(fields?.fields?.[0]?.text ?? '')).toBe(2_000);
    // A family emoji (five code points joined by ZWJ) is kept whole or not at all.
    const families = clipText('👩‍👩‍👧'.repeat(1_000), 3_000);
    expect(families).toMatch(/^(👩‍👩‍👧)+…$/u);
    expect(characters(families)).toBeLessThanOrEqual(3_000);
    // A link is never left half-open: the cut falls before it.
    const link = toBlocks({ text: 'x', lines: [`${'c'.repeat(2_990)} <https://example.com/a|a long link>`] });
    expect((link[0] as { text: { text: string } }).text.text).toBe(`${'c'.repeat(2_990)} …`);
  });

  it('renders an incident summary with huge, unicode and dotted labels within the limits', () => {
    const labels = {
      alertname: 'HighErrorRate',
      severity: 'critical',
      'app.kubernetes.io/name': 'api',
      'topology.kubernetes.io/zone': 'eu-west-1a',
      pod: `api-${'x'.repeat(2_100)}`,
      team: 'Zahlungsverkehr 🚨 決済',
    };
    const incident = Incident.parse({
      id: 'i1',
      key: 'alertmanager:g',
      source: 'alertmanager',
      title: 'HighErrorRate',
      severity: 'critical',
      status: 'open',
      openedAt: 0,
      labels,
      annotations: { summary: 'api 5xx above 5%', description: 'd'.repeat(4_096) },
      alerts: { a: { status: 'firing', labels, at: 0 } },
    });
    const summary = summaryMessage(incident);
    expect(blockErrors(toBlocks(summary))).toEqual([]);
  });
});

import { LogLevel } from '@slack/bolt';
import { ErrorCode, WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { suggestionErrors } from '../fakes/block-kit.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';

let slack: SlackFake;
let client: WebClient;

beforeEach(async () => {
  slack = await startSlackFake({ botToken: 'xoxb-test' });
  client = new WebClient('xoxb-test', {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    logLevel: LogLevel.ERROR,
  });
});

afterEach(async () => {
  await slack.close();
});

/** The Slack error (and its messages) of a rejected WebClient call. */
async function slackError(call: Promise<unknown>): Promise<{ error: string; messages: string[] }> {
  const err = (await call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  )) as { code?: string; data?: { error?: string; response_metadata?: { messages?: string[] } } };
  expect(err.code).toBe(ErrorCode.PlatformError);
  return { error: err.data?.error ?? '', messages: err.data?.response_metadata?.messages ?? [] };
}

const section = (text: string) => ({ type: 'section', text: { type: 'plain_text', text } });
/** Views as sent over the wire: the fake judges them, so the SDK's types are not asked to. */
const modal = (blocks: unknown[], title = 'Run an action') =>
  ({
    type: 'modal',
    title: { type: 'plain_text', text: title },
    blocks,
  }) as never;

describe('slack fake: views.open, views.update and views.publish', () => {
  it('opens a modal once per trigger_id, and refuses an unknown or reused one', async () => {
    const trigger = slack.triggerId('U1');
    const opened = await client.views.open({ trigger_id: trigger, view: modal([section('hi')]) });
    expect(opened.view?.id).toMatch(/^V/);
    expect(slack.views()).toHaveLength(1);
    expect(slack.views()[0]).toMatchObject({ type: 'modal', user: 'U1' });

    expect((await slackError(client.views.open({ trigger_id: trigger, view: modal([]) }))).error).toBe(
      'exchanged_trigger_id',
    );
    expect(
      (await slackError(client.views.open({ trigger_id: '123.456.abc', view: modal([section('x')]) }))).error,
    ).toBe('invalid_trigger_id');
  });

  it('refuses a trigger_id older than 3 seconds', async () => {
    const trigger = slack.triggerId('U1');
    await new Promise((r) => setTimeout(r, 3100));
    const err = await slackError(client.views.open({ trigger_id: trigger, view: modal([section('late')]) }));
    expect(err.error).toBe('expired_trigger_id');
  });

  it('refuses a view of 101 blocks and accepts 100', async () => {
    const blocks = Array.from({ length: 101 }, (_, i) => section(`row ${i}`));
    const err = await slackError(
      client.views.publish({ user_id: 'U1', view: { type: 'home', blocks } as never }),
    );
    expect(err.error).toBe('invalid_arguments');
    expect(err.messages).toContain('[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]');
    expect(slack.home('U1')).toBeUndefined();

    await client.views.publish({
      user_id: 'U1',
      view: { type: 'home', blocks: blocks.slice(0, 100) } as never,
    });
    expect(slack.home('U1')?.view.blocks).toHaveLength(100);
  });

  it('refuses a modal title over 24 characters, long option text, and a static select of 101 options', async () => {
    const long = await slackError(
      client.views.open({
        trigger_id: slack.triggerId(),
        view: modal([section('x')], 'A title that is too long!'),
      }),
    );
    expect(long.messages).toContain(
      '[ERROR] must be less than 25 characters [json-pointer:/view/title/text]',
    );

    const option = (text: string, value: string) => ({ text: { type: 'plain_text', text }, value });
    const select = (options: unknown[]) => ({
      type: 'input',
      label: { type: 'plain_text', text: 'Pick' },
      element: { type: 'static_select', action_id: 'pick', options },
    });
    const submit = { type: 'plain_text', text: 'Run' };
    const tooMany = Array.from({ length: 101 }, (_, i) => option(`o${i}`, `v${i}`));
    const many = await slackError(
      client.views.open({
        trigger_id: slack.triggerId(),
        view: { ...(modal([select(tooMany)]) as object), submit } as never,
      }),
    );
    expect(many.messages).toContain(
      '[ERROR] no more than 100 items allowed [json-pointer:/view/blocks/0/element/options]',
    );
    const wide = await slackError(
      client.views.open({
        trigger_id: slack.triggerId(),
        view: { ...(modal([select([option('x'.repeat(76), 'v')])]) as object), submit } as never,
      }),
    );
    expect(wide.messages).toContain(
      '[ERROR] must be less than 76 characters [json-pointer:/view/blocks/0/element/options/0/text/text]',
    );
    // A modal with input blocks needs a submit button.
    const noSubmit = await slackError(
      client.views.open({
        trigger_id: slack.triggerId(),
        view: modal([select([option('a', 'a')])]),
      }),
    );
    expect(noSubmit.error).toBe('invalid_arguments');
  });

  it('updates a modal by id, answers not_found and hash_conflict', async () => {
    const { view } = await client.views.open({ trigger_id: slack.triggerId(), view: modal([section('1')]) });
    const updated = await client.views.update({
      view_id: view!.id!,
      hash: view!.hash!,
      view: modal([section('2')]),
    });
    expect(updated.view?.hash).not.toBe(view!.hash);
    expect(slack.views()[0]!.versions).toHaveLength(2);
    const stale = await slackError(
      client.views.update({ view_id: view!.id!, hash: view!.hash!, view: modal([section('3')]) }),
    );
    expect(stale.error).toBe('hash_conflict');
    expect((await slackError(client.views.update({ view_id: 'VNOPE', view: modal([]) }))).error).toBe(
      'not_found',
    );
  });

  it('checks an external select answer: at most 100 options of at most 75 characters', () => {
    const option = (i: number, text = `o${i}`) => ({ text: { type: 'plain_text', text }, value: `v${i}` });
    expect(suggestionErrors({ options: Array.from({ length: 100 }, (_, i) => option(i)) })).toEqual([]);
    expect(suggestionErrors({ options: Array.from({ length: 101 }, (_, i) => option(i)) })).toContain(
      'no more than 100 items allowed [json-pointer:/options]',
    );
    expect(suggestionErrors({ options: [option(1, 'y'.repeat(76))] })).toEqual([
      'must be less than 76 characters [json-pointer:/options/0/text/text]',
    ]);
  });
});

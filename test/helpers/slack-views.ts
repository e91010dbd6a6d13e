import { expect } from 'vitest';
import { submissionAnswerErrors, suggestionErrors } from '../fakes/block-kit.js';
import { SLACK_FAKE_BOT, SLACK_FAKE_TEAM, type SlackView } from '../fakes/slack.js';
import {
  appHomeOpenedBody,
  blockSuggestionPayload,
  interactionBody,
  type PayloadView,
  postSigned,
  viewBlockActionPayload,
  viewSubmissionPayload,
} from '../fakes/slack-signing.js';
import { SIGNING_SECRET, slash, type World } from './world.js';

type Person = { id: string; name: string };
type Block = {
  type: string;
  block_id?: string;
  dispatch_action?: boolean;
  optional?: boolean;
  hint?: { text: string };
  element?: {
    type: string;
    action_id: string;
    options?: { text: { text: string }; value: string }[];
    min_value?: string;
    max_value?: string;
  };
};
type Option = { text: { type: string; text: string }; value: string };

/**
 * Drives a modal the app opened on the Slack fake as a person in Slack would: picks only what a
 * block offers, types into inputs, and sends the block_actions, block_suggestion and
 * view_submission payloads Slack sends, signed, to /slack/events.
 */
export class ModalSession {
  private values: Record<string, Record<string, unknown>> = {};

  constructor(
    private readonly botUrl: string,
    private readonly world: World,
    readonly user: Person,
    readonly viewId: string,
  ) {}

  get current(): SlackView {
    const view = this.world.slack.views().find((v) => v.id === this.viewId);
    if (!view) throw new Error(`no view ${this.viewId}`);
    return view;
  }

  get blocks(): Block[] {
    return (this.current.view.blocks ?? []) as Block[];
  }

  block(blockId: string): Block | undefined {
    return this.blocks.find((b) => b.block_id === blockId);
  }

  /** The options a static select offers: all a user can pick from. */
  offered(blockId: string): string[] {
    return (this.mustBlock(blockId).element?.options ?? []).map((o) => o.value);
  }

  /** The view as Slack sends it back in a payload: with its id, hash and the input so far. */
  payloadView(): PayloadView {
    const v = this.current;
    return {
      ...v.view,
      id: v.id,
      hash: v.hash,
      team_id: SLACK_FAKE_TEAM.id,
      app_id: SLACK_FAKE_BOT.appId,
      bot_id: SLACK_FAKE_BOT.botId,
      root_view_id: v.id,
      state: { values: structuredClone(this.values) },
    };
  }

  private mustBlock(blockId: string): Block {
    const block = this.block(blockId);
    if (!block?.element)
      throw new Error(`the modal has no input block ${blockId}: ${JSON.stringify(this.blocks)}`);
    return block;
  }

  private async post(payload: object) {
    const res = await postSigned(`${this.botUrl}/slack/events`, interactionBody(payload), SIGNING_SECRET);
    const raw = await res.text();
    return { status: res.status, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {} };
  }

  /** Sets a value; with dispatch_action, Slack sends block_actions, and the app's views.update is awaited. */
  private async set(blockId: string, value: Record<string, unknown>): Promise<void> {
    const block = this.mustBlock(blockId);
    const element = block.element!;
    this.values[blockId] = { [element.action_id]: { type: element.type, ...value } };
    if (!block.dispatch_action) return;
    const before = this.current.versions.length;
    const res = await this.post(
      viewBlockActionPayload({
        user: this.user,
        view: this.payloadView(),
        blockId,
        action: { type: element.type, action_id: element.action_id, ...value },
      }),
    );
    expect(res.status).toBe(200);
    await this.world.slack.waitFor(() => this.current.versions.length > before, 10_000);
  }

  /** Picks from a static select: Slack only lets a person pick what it offers. */
  async pick(blockId: string, value: string): Promise<void> {
    const option = (this.mustBlock(blockId).element?.options ?? []).find((o) => o.value === value);
    expect(option, `${value} is offered in ${blockId}`).toBeDefined();
    await this.set(blockId, { selected_option: option });
  }

  /** What an external select lists for `query`, checked against Slack's limits for the answer. */
  async suggest(blockId: string, query = ''): Promise<Option[]> {
    const element = this.mustBlock(blockId).element!;
    expect(element.type).toBe('external_select');
    const res = await this.post(
      blockSuggestionPayload({
        user: this.user,
        view: this.payloadView(),
        blockId,
        actionId: element.action_id,
        value: query,
      }),
    );
    expect(res.status).toBe(200);
    expect(suggestionErrors(res.body)).toEqual([]);
    return res.body.options as Option[];
  }

  /** Picks from an external select, among what the app listed. */
  async pickListed(blockId: string, value: string): Promise<Option> {
    const option = (await this.suggest(blockId)).find((o) => o.value === value);
    expect(option, `${value} is listed in ${blockId}`).toBeDefined();
    await this.set(blockId, { selected_option: option });
    return option!;
  }

  async type(blockId: string, value: string): Promise<void> {
    await this.set(blockId, { value });
  }

  /** Sends view_submission; answers what the app acknowledged (empty closes the modal). */
  async submit() {
    const answer = await this.post(viewSubmissionPayload({ user: this.user, view: this.payloadView() }));
    expect(submissionAnswerErrors(this.current.view, answer.body)).toEqual([]);
    return answer;
  }
}

/** Types `/ops` with nothing after it, with a fresh trigger_id, and waits for the modal it opens. */
export async function openModal(botUrl: string, world: World, user: Person): Promise<ModalSession> {
  const before = new Set(world.slack.views().map((v) => v.id));
  const ack = await slash(botUrl, world, '', { user, triggerId: world.slack.triggerId(user.id) });
  expect(ack.status).toBe(200);
  const view = await world.slack.waitFor(
    () => world.slack.views().find((v) => v.type === 'modal' && v.user === user.id && !before.has(v.id)),
    10_000,
  );
  return new ModalSession(botUrl, world, user, view.id);
}

/** Sends app_home_opened for `user` as the Events API does, and waits for a newly published Home. */
export async function openHome(botUrl: string, world: World, user: Person): Promise<SlackView> {
  const before = world.slack.home(user.id)?.versions.length ?? 0;
  const res = await postSigned(`${botUrl}/slack/events`, appHomeOpenedBody(user.id), SIGNING_SECRET);
  expect(res.status).toBe(200);
  await res.text();
  return world.slack.waitFor(() => {
    const home = world.slack.home(user.id);
    return home && home.versions.length > before ? home : undefined;
  }, 10_000);
}

import { specVersionOf } from '../src/core/deployment.js';
import { defineCommand } from '../src/engine/command-module.js';
import { parsePausing, setPaused, verifyPaused } from './pause.js';
import { mutatingScope } from './shared.js';

export const resume = defineCommand({
  name: 'resume',
  summary: 'Resume the rollouts of a paused deployment, as kubectl rollout resume does',
  usage: '/ops resume <deployment> --env <env> [--reason "<text>"] [--emergency]',
  action: 'resume',
  mutates: true,
  step: { label: (args) => `Resume rollouts of ${args.deployment} in ${args.env}` },
  parse: parsePausing,
  scope: mutatingScope,
  async preview(ctx, args) {
    const deployment = await ctx.cluster.getDeployment(ctx.target(args.env), args.deployment);
    return {
      lines: [`Paused: ${deployment.paused} → false`, 'Changes made while it was paused roll out'],
      specVersion: specVersionOf(deployment),
    };
  },
  run: (ctx, args) => setPaused(ctx, args, false),
  verify: (ctx, args) => verifyPaused(ctx, args, false),
});

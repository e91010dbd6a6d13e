import type { Feature } from './runtime.js';

/** Features beyond the command path, registered by hand. Each owns its queues, routes and schedulers. */
export const features: readonly Feature[] = [];

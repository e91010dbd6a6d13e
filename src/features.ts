import { incidentsFeature } from './alerts/feature.js';
import { preview } from './preview/feature.js';
import type { Feature } from './runtime.js';

/** Features beyond the command path, registered by hand. Each owns its queues, routes and schedulers. */
export const features: readonly Feature[] = [preview, incidentsFeature];

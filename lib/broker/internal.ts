/**
 * @internal The broker layer's entry for sibling layers: building blocks that are not the broker's
 * public API. Not in package.json `exports`, so not reachable from `nest-mqtt5/broker`.
 */
export { DEFAULT_OPTIONS } from './options.js';
export type { Session } from './session.js';
export { TopicTree, SharedGroup, type SubscriptionEntry, type SubscriptionOptions } from './topic-tree.js';
export { packageVersion } from './version.js';

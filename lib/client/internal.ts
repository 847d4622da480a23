/**
 * @internal The client layer's entry for sibling layers (lib/nest, lib/broker, lib/cli): building
 * blocks they reuse that are not the client's public API. Not in package.json `exports`, so not
 * reachable from `nest-mqtt5/client`.
 */
export { Queue } from './queue.js';
export { ClientSession } from './session.js';
export { ExponentialBackoff, DEFAULT_RECONNECT, reconnectBackoff, type BackoffOptions } from './reconnect.js';

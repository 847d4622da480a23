/** nest-mqtt5/codec — MQTT packets ⇄ bytes (v5, and 3.1.1/3.1 by `protocolVersion`). Pure and synchronous: no I/O, no timers. */
export * from './packets.js';
export * from './reason-codes.js';
export * from './errors.js';
export * from './error-codes.js';
export * from './properties.js';
export * from './encode.js';
export * from './acks.js';
export { withTopicAlias } from './publish-alias.js';
export * from './decoder.js';
export * from './mqtt311-codes.js';
export { MQTT31_MAX_CLIENT_ID_BYTES } from './decode-mqtt311.js';
export * from './topics.js';
export { MAX_PACKET_SIZE, MAX_VARINT, varintSize } from './wire.js';
export { MAX_STRING_BYTES } from './strings.js';

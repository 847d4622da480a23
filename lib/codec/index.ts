/** nest-mqtt5/codec — MQTT v5 packets ⇄ bytes. Pure and synchronous: no I/O, no timers. */
export * from './packets.js';
export * from './reason-codes.js';
export * from './errors.js';
export * from './error-codes.js';
export * from './properties.js';
export * from './encode.js';
export * from './acks.js';
export * from './decoder.js';
export * from './topics.js';
export { MAX_PACKET_SIZE, MAX_VARINT, varintSize } from './wire.js';
export { MAX_STRING_BYTES } from './strings.js';

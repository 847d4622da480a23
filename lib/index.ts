/**
 * nest-mqtt5 — MQTT v5 for NestJS. The package root is the Nest layer; the client, broker and
 * codec have their own entry points (`nest-mqtt5/client`, `nest-mqtt5/broker`, `nest-mqtt5/codec`).
 */
export * from './nest/index.js';
export type { QoS, Properties, UserProperty, PublishPacket } from './codec/index.js';
// Classes as values: a Nest provider injects them by constructor type, which under
// isolatedModules + emitDecoratorMetadata needs a value import (a type-only one is TS1272).
export { MqttClient } from './client/index.js';
export { MqttBroker, type MqttBrokerOptions } from './broker/index.js';

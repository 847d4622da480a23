/**
 * The OpenTelemetry semantic-convention names the transport emits, as of
 * `@opentelemetry/semantic-conventions` 1.45 (messaging conventions, still "development" there).
 * Hard-coded so the conventions package is not a runtime dependency; a unit test asserts each one
 * equals the package's constant.
 */

/** `messaging.system.name` (1.45 renamed `messaging.system` to it). MQTT has no official value: we use `mqtt`. */
export const ATTR_MESSAGING_SYSTEM_NAME = 'messaging.system.name';
/** Deprecated by 1.45 but still what many backends group by; emitted beside `messaging.system.name`. */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_DESTINATION_TEMPLATE = 'messaging.destination.template';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_MESSAGE_CONVERSATION_ID = 'messaging.message.conversation_id';
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size';
export const ATTR_MESSAGING_CLIENT_ID = 'messaging.client.id';
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';

/** `messaging.operation.type` values used here (`publish`/`deliver` of older versions are renamed `send`/`process`). */
export const OPERATION_TYPE_SEND = 'send';
export const OPERATION_TYPE_PROCESS = 'process';
export const OPERATION_TYPE_RECEIVE = 'receive';

/** The value of `messaging.system.name`: no official one exists for MQTT. */
export const MESSAGING_SYSTEM_MQTT = 'mqtt';

/** Messaging metric names of the conventions. */
export const METRIC_MESSAGING_CLIENT_SENT_MESSAGES = 'messaging.client.sent.messages';
export const METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES = 'messaging.client.consumed.messages';
export const METRIC_MESSAGING_PROCESS_DURATION = 'messaging.process.duration';
export const METRIC_MESSAGING_CLIENT_OPERATION_DURATION = 'messaging.client.operation.duration';

/** The W3C "Trace Context: MQTT format" user property names (lowercase, exactly). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/**
 * How the tool prints connection events and received messages: one readable line per event, and
 * per message either `topic payload`, a verbose block, or one JSON object per line.
 */
import { isUtf8 } from 'node:buffer';
import {
  ClientClosedError,
  DisconnectedError,
  type MqttClient,
  type MqttClientError,
  type MqttMessage,
  type ReconnectedInfo,
  type ReconnectingInfo,
  type ResubscribeResult,
} from '../client/index.js';
import type { ConnackPacket, Properties } from '../codec/index.js';
import { formatDisconnectReason, formatReason, formatReasonCode } from './errors.js';

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** `connected to mqtt://… as c1 (session present: no, keep alive: 60 s, session expiry: 3600 s)`. */
export function formatConnected(client: MqttClient, keepAlive: number, connack: ConnackPacket): string {
  const p = connack.properties ?? {};
  const extra: string[] = [`session present: ${yesNo(connack.sessionPresent)}`, `keep alive: ${p.serverKeepAlive ?? keepAlive} s`];
  // The expiry in force: the broker's when its CONNACK names one, else ours.
  if (client.sessionExpiryInterval > 0) extra.push(`session expiry: ${client.sessionExpiryInterval} s`);
  if (p.assignedClientIdentifier !== undefined) extra.push('client id assigned by the broker');
  return `connected to ${client.connection.brokerUrl} as ${client.clientId} (${extra.join(', ')})`;
}

/**
 * Why the connection ended: the server's DISCONNECT, a network loss, or our own `disconnect()`
 * (`wasConnected` false: it only stopped the reconnect attempts).
 */
export function formatDisconnected(reason: MqttClientError, wasConnected = true): string {
  if (reason instanceof ClientClosedError) {
    return wasConnected ? `disconnected: sent ${formatDisconnectReason(reason.reasonCode)}` : 'stopped reconnecting';
  }
  if (reason instanceof DisconnectedError) {
    const code = reason.reasonCode;
    return `disconnected by the broker: ${formatReason(code, reason.packet.properties?.reasonString, formatDisconnectReason(code))}`;
  }
  return `connection lost: ${reason.message}`;
}

/** `reconnecting: attempt 2 in 180 ms (after: connect ECONNREFUSED …)`; the first attempt's cause was printed as the loss. */
export function formatReconnecting(info: ReconnectingInfo): string {
  const after = info.attempt > 1 ? ` (attempt ${info.attempt - 1} failed: ${info.error.message})` : '';
  return `reconnecting: attempt ${info.attempt} in ${info.delay} ms${after}`;
}

/** `reconnected (session present: yes)`. */
export function formatReconnected(info: ReconnectedInfo): string {
  return `reconnected (session present: ${yesNo(info.sessionPresent)})`;
}

/** The outcome of re-subscribing one filter after a reconnect without session. */
export function formatResubscribed(r: ResubscribeResult): string {
  if (r.error !== undefined || r.reasonCode >= 0x80) {
    return `resubscribe to ${r.topicFilter} failed: ${formatReasonCode(r.reasonCode)}`;
  }
  return `resubscribed to ${r.topicFilter} (granted QoS ${r.reasonCode})`;
}

/** The payload as text when it is UTF-8, else as hex (so binary never garbles a terminal line). */
function payloadText(payload: Buffer): string {
  return isUtf8(payload) ? payload.toString('utf8') : `0x${payload.toString('hex')}`;
}

/** Plain output: `topic payload`. */
export function formatMessage(msg: MqttMessage): string {
  return `${msg.topic} ${payloadText(msg.payload)}`;
}

/** Human-readable names of the PUBLISH properties worth showing, in display order. */
function propertyLines(p: Properties): string[] {
  const lines: string[] = [];
  if (p.payloadFormatIndicator !== undefined) lines.push(`payload format: ${p.payloadFormatIndicator ? 'UTF-8' : 'bytes'}`);
  if (p.contentType !== undefined) lines.push(`content type: ${p.contentType}`);
  if (p.messageExpiryInterval !== undefined) lines.push(`message expiry: ${p.messageExpiryInterval} s`);
  if (p.responseTopic !== undefined) lines.push(`response topic: ${p.responseTopic}`);
  if (p.correlationData !== undefined) lines.push(`correlation data: ${payloadText(p.correlationData)}`);
  if (p.subscriptionIdentifier !== undefined) lines.push(`subscription identifier: ${String(p.subscriptionIdentifier)}`);
  for (const [name, value] of p.userProperties ?? []) lines.push(`user property: ${name}=${value}`);
  return lines;
}

/** Verbose output: `topic payload`, then indented lines for QoS, retain, dup and the properties. */
export function formatMessageVerbose(msg: MqttMessage): string {
  const head = `qos: ${msg.qos}, retain: ${yesNo(msg.retain)}${msg.dup ? ', dup: yes' : ''}, ${msg.payload.length} bytes`;
  const lines = [formatMessage(msg), `  ${head}`];
  for (const line of propertyLines(msg.properties ?? {})) lines.push(`  ${line}`);
  return lines.join('\n');
}

/**
 * JSON output, one object per line: `payload` is a string when the payload is UTF-8, else base64
 * with `"payloadEncoding": "base64"`; correlation data likewise; user properties stay
 * `[name, value]` pairs because names may repeat and order matters.
 */
export function formatMessageJson(msg: MqttMessage): string {
  const p = msg.properties ?? {};
  const utf8 = isUtf8(msg.payload);
  const out: Record<string, unknown> = {
    topic: msg.topic,
    payload: msg.payload.toString(utf8 ? 'utf8' : 'base64'),
    ...(utf8 ? {} : { payloadEncoding: 'base64' }),
    qos: msg.qos,
    retain: msg.retain,
    dup: msg.dup,
  };
  const props: Record<string, unknown> = {};
  if (p.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.contentType !== undefined) props.contentType = p.contentType;
  if (p.messageExpiryInterval !== undefined) props.messageExpiryInterval = p.messageExpiryInterval;
  if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) {
    const cd = p.correlationData;
    if (isUtf8(cd)) props.correlationData = cd.toString('utf8');
    else {
      props.correlationData = cd.toString('base64');
      props.correlationDataEncoding = 'base64';
    }
  }
  if (p.subscriptionIdentifier !== undefined) props.subscriptionIdentifier = p.subscriptionIdentifier;
  if (p.userProperties !== undefined && p.userProperties.length > 0) props.userProperties = p.userProperties;
  if (Object.keys(props).length > 0) out.properties = props;
  return JSON.stringify(out);
}

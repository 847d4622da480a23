/**
 * Value parsers for command-line options and arguments. Each throws commander's
 * InvalidArgumentError, which commander turns into "error: option '…' argument '…' is invalid. <why>"
 * and the tool into exit code 2.
 */
import { InvalidArgumentError } from 'commander';
import { isValidTopicFilter, isValidTopicName, type QoS, type UserProperty } from '../codec/index.js';

const BROKER_SCHEMES = new Set(['mqtt:', 'tcp:', 'mqtts:', 'tls:', 'ws:', 'wss:']);

/** A broker URL with a scheme the client supports and a host. */
export function parseBrokerUrl(value: string): URL {
  // `host:1883` parses as a URL with scheme "host:"; the likely intent is plain MQTT.
  if (!value.includes('://')) throw new InvalidArgumentError(`No scheme; did you mean mqtt://${value}?`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`Not a URL; expected e.g. mqtt://127.0.0.1:1883 or ws://host:8080/mqtt.`);
  }
  if (!BROKER_SCHEMES.has(url.protocol)) {
    throw new InvalidArgumentError(`Unsupported scheme ${url.protocol} (use mqtt:, tcp:, mqtts:, tls:, ws: or wss:).`);
  }
  if (url.hostname === '') throw new InvalidArgumentError('The URL has no host.');
  return url;
}

/** An integer in [min, max]. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A duration in seconds (decimals allowed, e.g. 0.05), returned in milliseconds. */
export function secondsToMs(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
  // setTimeout's ceiling: longer delays would fire at once.
  if (!Number.isFinite(n) || n * 1000 > 2_147_483_647) {
    throw new InvalidArgumentError('Expected a number of seconds, e.g. 5 or 0.25.');
  }
  return Math.round(n * 1000);
}

/** A positive duration in seconds, in milliseconds. */
export function positiveSecondsToMs(value: string): number {
  const ms = secondsToMs(value);
  if (ms <= 0) throw new InvalidArgumentError('Expected a duration above 0 seconds.');
  return ms;
}

/** QoS 0, 1 or 2. */
export function parseQos(value: string): QoS {
  if (value !== '0' && value !== '1' && value !== '2') throw new InvalidArgumentError('QoS must be 0, 1 or 2.');
  return Number(value) as QoS;
}

/** A topic name to publish to: no wildcards, not empty. */
export function parseTopicName(value: string): string {
  if (!isValidTopicName(value)) {
    throw new InvalidArgumentError('Not a valid topic name (non-empty, no + or # wildcards, no NUL, at most 65535 bytes).');
  }
  return value;
}

/** A topic filter to subscribe to (wildcards and `$share/<group>/…` allowed). */
export function parseTopicFilter(value: string): string {
  if (!isValidTopicFilter(value)) {
    throw new InvalidArgumentError('Not a valid topic filter (+ must fill a whole level, # must be the last level).');
  }
  return value;
}

/** `name=value`, accumulated in order (commander calls this once per occurrence). */
export function collectUserProperty(value: string, previous: UserProperty[] | undefined): UserProperty[] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('Expected name=value (the value may be empty).');
  return [...(previous ?? []), [value.slice(0, eq), value.slice(eq + 1)]];
}

/** Retain handling of a subscription: 0 send retained, 1 only for a new subscription, 2 never. */
export function parseRetainHandling(value: string): 0 | 1 | 2 {
  if (value !== '0' && value !== '1' && value !== '2') throw new InvalidArgumentError('Retain handling must be 0, 1 or 2.');
  return Number(value) as 0 | 1 | 2;
}

/** A broker host for `-h/--host`: a name or an IP address (IPv6 with or without brackets). */
export function parseHost(value: string): string {
  const host = value.trim();
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let valid = host !== '' && !/[\s/?#@\\]/.test(host);
  if (valid) {
    try {
      valid = new URL(`mqtt://${bracketed}`).hostname !== '';
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new InvalidArgumentError('Expected a host name or an IP address, e.g. 127.0.0.1, ::1 or broker.local.');
  return bracketed;
}

/** A TCP port to connect to (1–65535). */
export function parsePort(value: string): number {
  return integerIn(1, 65535)(value);
}

/**
 * The MQTT protocol version of `-V` (mosquitto's spellings). The client speaks v5 only, so only
 * `5`/`mqttv5` are accepted; 3.1/3.1.1 are refused with the reason rather than silently ignored.
 */
export function parseProtocolVersion(value: string): 5 {
  const v = value.trim().toLowerCase();
  if (v === '5' || v === 'mqttv5' || v === 'v5') return 5;
  const old = /^(mqttv)?3(\.?1(\.?1)?)?$/.test(v) || v === '4' ? ' (MQTT 3.1 and 3.1.1 are not supported)' : '';
  throw new InvalidArgumentError(`This client speaks MQTT v5 only: use 5 or mqttv5${old}.`);
}

/** A topic filter for a repeatable option (`sub -t a -t b`), accumulated in order. */
export function collectTopicFilter(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), parseTopicFilter(value)];
}

/**
 * Compatibility with Nest's built-in MQTT transport (`Transport.MQTT`), so services can migrate
 * one at a time. The built-in transport wraps everything in a JSON envelope:
 *
 * - event:    topic `<pattern>`,       payload `{"pattern":…,"data":…}`
 * - request:  topic `<pattern>`,       payload `{"pattern":…,"data":…,"id":"<uuid>"}`
 * - response: topic `<topic>/reply`,   payload `{"id":…,"response":…,"err":…,"isDisposed":true}`
 *
 * (The built-in server replies on `<topic it received on>/reply`; its client subscribes to
 * `<pattern>/reply` — the same thing for non-wildcard patterns.)
 */

/** Suffix of the built-in transport's reply topics. */
export const COMPAT_REPLY_SUFFIX = '/reply';

/** The reply topic the built-in transport uses for a request topic. */
export function compatReplyTopic(topic: string): string {
  return topic + COMPAT_REPLY_SUFFIX;
}

/** A request or event as the built-in transport sends it. `id` present = request. */
export interface CompatIncoming {
  pattern: unknown;
  data: unknown;
  id?: string;
}

/** A response packet of the built-in transport. */
export interface CompatResponse {
  id: string;
  response?: unknown;
  err?: unknown;
  isDisposed?: boolean;
}

/** Encodes a request (`id` given) or an event in the built-in envelope. */
export function encodeCompatRequest(pattern: unknown, data: unknown, id?: string): Buffer {
  return Buffer.from(JSON.stringify(id === undefined ? { pattern, data } : { pattern, data, id }));
}

/** Encodes a response in the built-in envelope (undefined fields are left out, as JSON does). */
export function encodeCompatResponse(response: CompatResponse): Buffer {
  return Buffer.from(JSON.stringify(response));
}

/**
 * Decodes a payload sent by a built-in client. Returns undefined when it is not an envelope
 * (not JSON, or JSON without `pattern`/`data`), as the built-in server would treat it as raw data.
 */
export function decodeCompatIncoming(payload: Buffer): CompatIncoming | undefined {
  const value = parseJson(payload);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (!('pattern' in record) && !('data' in record)) return undefined;
  const id = record.id;
  return {
    pattern: record.pattern,
    data: record.data,
    ...(typeof id === 'string' || typeof id === 'number' ? { id: String(id) } : {}),
  };
}

/** Decodes a response of a built-in server; undefined when it is not a response envelope with an id. */
export function decodeCompatResponse(payload: Buffer): CompatResponse | undefined {
  const value = parseJson(payload);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.id !== 'string' && typeof record.id !== 'number') return undefined;
  const out: CompatResponse = { id: String(record.id) };
  if ('response' in record) out.response = record.response;
  if ('err' in record && record.err !== undefined && record.err !== null) out.err = record.err;
  if (record.isDisposed === true) out.isDisposed = true;
  return out;
}

function parseJson(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    // Not JSON, so not an envelope of Nest's MQTT transport: the caller treats it as a plain payload.
    return undefined;
  }
}

import type { UserProperty } from '../codec/index.js';

/**
 * The native request/response convention of the transport, on plain MQTT v5:
 *
 * - A request is a PUBLISH on the pattern's topic with `responseTopic` (one per client) and
 *   `correlationData` (the request id). Its payload is the serialized data — no envelope.
 * - A response is a PUBLISH on that response topic carrying the same correlation data. A response
 *   without the {@link REPLY_KIND} user property is a final value: the stream yields it and
 *   completes — so a plain MQTT responder answers by echoing the correlation data, nothing more.
 *   Streams of several values and errors mark their responses:
 *   - `next`: one value, more follow;
 *   - `end`: the stream completed (empty payload, no value);
 *   - `error`: the payload is the serialized error (e.g. the `RpcException` error object).
 */
export const REPLY_KIND = 'nest-mqtt5-reply';

/** {@link REPLY_KIND} value: one stream value, more follow. */
export const REPLY_NEXT = 'next';
/** {@link REPLY_KIND} value: the stream completed. */
export const REPLY_END = 'end';
/** {@link REPLY_KIND} value: the stream failed; the payload is the error. */
export const REPLY_ERROR = 'error';

/** User properties of a `next` response (shared, never mutated). */
export const NEXT_PROPERTY: readonly UserProperty[] = [[REPLY_KIND, REPLY_NEXT]];
/** User properties of an `end` response. */
export const END_PROPERTY: readonly UserProperty[] = [[REPLY_KIND, REPLY_END]];
/** User properties of an `error` response. */
export const ERROR_PROPERTY: readonly UserProperty[] = [[REPLY_KIND, REPLY_ERROR]];

/** The reply kind of a response's user properties (undefined = final value). */
export function replyKind(userProperties: UserProperty[] | undefined): string | undefined {
  if (userProperties === undefined) return undefined;
  for (let i = 0; i < userProperties.length; i++) {
    const pair = userProperties[i]!;
    if (pair[0] === REPLY_KIND) return pair[1];
  }
  return undefined;
}

/** Length of the correlation data this transport generates (a 48-bit request counter). */
export const CORRELATION_LENGTH = 6;

/** Nest packet metadata (`ClientProxy#setOnDispatchHook`) travels as user properties. */
export function metadataToUserProperties(metadata: Record<string, string>): UserProperty[] {
  const out: UserProperty[] = [];
  for (const key of Object.keys(metadata)) out.push([key, String(metadata[key])]);
  return out;
}

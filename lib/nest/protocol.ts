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

export const REPLY_NEXT = 'next';
export const REPLY_END = 'end';
export const REPLY_ERROR = 'error';

export const NEXT_PROPERTY: readonly UserProperty[] = [[REPLY_KIND, REPLY_NEXT]];
export const END_PROPERTY: readonly UserProperty[] = [[REPLY_KIND, REPLY_END]];
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

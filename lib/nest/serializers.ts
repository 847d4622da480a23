import { isUtf8 } from 'node:buffer';
import type { Properties } from '../codec/index.js';

/** Content type the JSON serializer puts on binary payloads, so the other side hands back a Buffer. */
export const OCTET_STREAM = 'application/octet-stream';

/** A serialized payload with the content properties that describe it. */
export interface Mqtt5SerializedPayload {
  payload: Buffer;
  contentType?: string;
  payloadFormatIndicator?: boolean;
}

/**
 * Turns message data into a PUBLISH payload. Return a Buffer, or an object when the payload needs
 * content properties (content type, payload format indicator) to be understood.
 *
 * Unlike Nest's serializers, this one sees the data only: with MQTT v5 the pattern is the topic
 * and the request id travels as correlation data, so no envelope is needed.
 */
export interface Mqtt5Serializer {
  serialize(data: unknown): Buffer | Mqtt5SerializedPayload;
}

/** Turns a received PUBLISH payload (and its properties) back into data. */
export interface Mqtt5Deserializer {
  deserialize(payload: Buffer, properties: Properties | undefined): unknown;
}

const EMPTY = Buffer.alloc(0);

/**
 * The default: JSON for values, raw bytes for Buffers/Uint8Arrays (tagged
 * `application/octet-stream`), an empty payload for `undefined`.
 */
export class JsonSerializer implements Mqtt5Serializer {
  serialize(data: unknown): Buffer | Mqtt5SerializedPayload {
    if (data === undefined) return EMPTY;
    if (data instanceof Uint8Array) {
      const payload = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      return { payload, contentType: OCTET_STREAM };
    }
    return Buffer.from(JSON.stringify(data));
  }
}

/**
 * The default: an empty payload is `undefined`; `application/octet-stream` is a Buffer; otherwise
 * JSON when it parses, else the UTF-8 text, else the raw bytes — so plain MQTT publishers
 * (`21.5`, `on`, binary frames) reach handlers sensibly.
 */
export class JsonDeserializer implements Mqtt5Deserializer {
  deserialize(payload: Buffer, properties: Properties | undefined): unknown {
    if (payload.length === 0) return undefined;
    // Copy binary payloads: the received bytes are a view into a socket chunk that a handler
    // keeping the Buffer would otherwise pin in memory.
    if (properties?.contentType === OCTET_STREAM) return Buffer.from(payload);
    const text = payload.toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      // Not JSON: a plain text or binary payload, as documented above; not an error.
      return isUtf8(payload) ? text : Buffer.from(payload);
    }
  }
}

/** Splits a serializer result into the payload and its content properties. */
export function toPayload(result: Buffer | Mqtt5SerializedPayload): Mqtt5SerializedPayload {
  return Buffer.isBuffer(result) ? { payload: result } : result;
}

/**
 * Topic aliases on an already encoded v5 PUBLISH (spec 3.3.2.3.4): a sender that caches one encoding per
 * message (a broker fanning out) rewrites those bytes per receiver instead of encoding the packet again.
 * One allocation and three copies; the payload is copied, never re-read.
 */
import { PROPERTY_BY_NAME } from './properties.js';
import { varintSize, writeVarint } from './wire.js';

const TOPIC_ALIAS_ID = PROPERTY_BY_NAME['topicAlias']!.id;

/** Reads a Variable Byte Integer at `off`: its value, and its size in bytes. */
function readVarint(buf: Buffer, off: number): [value: number, size: number] {
  let value = 0;
  let mult = 1;
  let i = off;
  for (;;) {
    const b = buf[i++]!;
    value += (b & 0x7f) * mult;
    if (b < 0x80) return [value, i - off];
    mult *= 0x80;
  }
}

/**
 * A copy of the v5 PUBLISH `encoded` (as {@link encodePacket} writes it, without a Topic Alias) that
 * carries Topic Alias `alias`: with its topic name when `withTopic` (setting the alias at the receiver),
 * else with an empty topic name (using it). The caller keeps the alias state; the input is not changed.
 */
export function withTopicAlias(encoded: Buffer, alias: number, withTopic: boolean): Buffer {
  const [remaining, rlSize] = readVarint(encoded, 1);
  const topicAt = 1 + rlSize;
  const topicLen = encoded.readUInt16BE(topicAt);
  const afterTopic = topicAt + 2 + topicLen;
  const pidLen = (encoded[0]! & 0x06) !== 0 ? 2 : 0;
  const propsAt = afterTopic + pidLen;
  const [propsLen, plSize] = readVarint(encoded, propsAt);
  const newPropsLen = propsLen + 3;
  const newRemaining = remaining - (withTopic ? 0 : topicLen) + 3 + varintSize(newPropsLen) - plSize;
  const out = Buffer.allocUnsafe(1 + varintSize(newRemaining) + newRemaining);
  out[0] = encoded[0]!;
  let off = writeVarint(out, 1, newRemaining);
  if (withTopic) {
    off += encoded.copy(out, off, topicAt, afterTopic);
  } else {
    out[off++] = 0;
    out[off++] = 0;
  }
  if (pidLen !== 0) off += encoded.copy(out, off, afterTopic, propsAt);
  off = writeVarint(out, off, newPropsLen);
  out[off++] = TOPIC_ALIAS_ID;
  out[off++] = alias >>> 8;
  out[off++] = alias & 0xff;
  encoded.copy(out, off, propsAt + plSize);
  return out;
}

/**
 * UTF-8 Encoded Strings on the wire (spec 1.5.4): measuring and writing them for the encoder, reading
 * and validating them for the decoder. A string is well-formed UTF-8 without U+0000 and at most
 * 65,535 bytes long; anything else is a Malformed Packet (0x81).
 */
import { isUtf8 } from 'node:buffer';
import { malformed } from './errors.js';

/**
 * Buffer methods Node has on every Buffer (they back `buf.write` / `buf.toString`) but does not type.
 * Calling them directly skips the encoding-name dispatch, which matters for 20-byte strings.
 */
interface BufferInternals {
  utf8Write(s: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

/** Largest UTF-8 string or binary data the two-byte length prefix can describe. */
export const MAX_STRING_BYTES = 65535;

/**
 * Up to this many UTF-16 code units, strings are measured and written by a JavaScript loop: for the short
 * strings of MQTT (topics, property names) that beats the fixed cost of calling into C++.
 */
const SHORT_STRING = 32;
/** {@link measureUtf8} result for a string holding U+0000. */
export const NUL = -1;
/** {@link measureUtf8} result for a string holding a lone surrogate. */
export const LONE_SURROGATE = -2;

/**
 * Length in UTF-8 bytes of `s`, or {@link NUL} / {@link LONE_SURROGATE} (negative) when `s` cannot be an
 * MQTT string. Does not apply the 65,535-byte limit.
 */
export function measureUtf8(s: string): number {
  return s.length <= SHORT_STRING ? shortUtf8Length(s) : longUtf8Length(s);
}

/** UTF-8 length of a short string, or NUL / LONE_SURROGATE. */
function shortUtf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) return NUL;
      n += 1;
    } else if (c < 0x800) {
      n += 2;
    } else if (c < 0xd800 || c > 0xdfff) {
      n += 3;
    } else {
      // A high surrogate followed by a low one is one code point of 4 bytes; anything else is lone.
      const next = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return LONE_SURROGATE;
      n += 4;
      i++;
    }
  }
  return n;
}

/** UTF-8 length of a long string, or NUL / LONE_SURROGATE, with the engine's bulk primitives. */
function longUtf8Length(s: string): number {
  if (s.indexOf('\0') !== -1) return NUL;
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) return LONE_SURROGATE;
  return Buffer.byteLength(s);
}

/**
 * Validates `s` as an MQTT UTF-8 string and returns its length in bytes.
 * Throws a 0x81 MqttProtocolError naming `what` when it is not a string, holds U+0000 or a lone
 * surrogate (which has no UTF-8 encoding), or exceeds 65,535 bytes.
 */
export function utf8Length(s: string, what: string): number {
  if (typeof s !== 'string') throw malformed(`${what} must be a string`);
  const n = measureUtf8(s);
  if (n < 0) {
    throw malformed(n === NUL ? `${what} must not contain U+0000` : `${what} contains a lone surrogate, which UTF-8 cannot encode`);
  }
  if (n > MAX_STRING_BYTES) throw malformed(`${what} is ${n} bytes long; the limit is ${MAX_STRING_BYTES}`);
  return n;
}

/**
 * Writes a two-byte length and the UTF-8 bytes of `s` at `off`, which the measuring pass has made room
 * for; returns the end offset. Short ASCII strings are copied code unit by code unit; others go through
 * Node's UTF-8 writer, whose byte count fills in the length.
 */
export function writeUtf8(buf: Buffer, off: number, s: string): number {
  const len = s.length;
  const start = off + 2;
  if (len <= SHORT_STRING) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    if (i === len) {
      buf[off] = len >>> 8;
      buf[off + 1] = len & 0xff;
      return start + len;
    }
  }
  const n = (buf as unknown as BufferInternals).utf8Write(s, start, buf.length - start);
  buf[off] = n >>> 8;
  buf[off + 1] = n & 0xff;
  return start + n;
}

/**
 * Decodes bytes `[start, end)` of `buf` as an MQTT UTF-8 string. ASCII, the common case, is detected
 * with one pass over the bytes; only other strings pay for full UTF-8 validation.
 * Throws 0x81 on invalid UTF-8 (including surrogates and overlong forms) or U+0000.
 */
export function readUtf8(buf: Buffer, start: number, end: number, what: string): string {
  let bits = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    // A 0 byte can only be U+0000: it never occurs inside a multi-byte sequence.
    if (b === 0) throw malformed(`${what} contains U+0000`);
    bits |= b;
  }
  if (bits < 0x80) return (buf as unknown as BufferInternals).latin1Slice(start, end);
  if (!isUtf8(buf.subarray(start, end))) throw malformed(`${what} is not valid UTF-8`);
  return (buf as unknown as BufferInternals).utf8Slice(start, end);
}

/** `s` quoted for an error message, shortened when long (a 64 KiB topic should not make a 64 KiB message). */
export function quote(s: unknown): string {
  if (typeof s !== 'string') return String(s);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

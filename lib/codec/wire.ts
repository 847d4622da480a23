/** Primitive wire helpers shared by the encoder (spec 1.5): variable byte integers and integer ranges. */

/** Largest value a Variable Byte Integer can hold (spec 1.5.5). */
export const MAX_VARINT = 268_435_455;

/** Largest MQTT packet: 1 byte of fixed header, 4 bytes of Remaining Length, MAX_VARINT bytes of body. */
export const MAX_PACKET_SIZE = 1 + 4 + MAX_VARINT;

/** Bytes needed to encode `n` (0 ≤ n ≤ MAX_VARINT) as a Variable Byte Integer. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4;
}

/** Writes `n` (0 ≤ n ≤ MAX_VARINT) as a Variable Byte Integer at `off`; returns the end offset. */
export function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[off++] = n;
  return off;
}

/** Whether `v` is an integer in `[min, max]`. */
export function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Whether `v` is binary data the encoder can copy (a Buffer or any Uint8Array). */
export function isBinary(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

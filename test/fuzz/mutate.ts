/**
 * Mutations of encoded MQTT packets: bit flips, byte overwrites with boundary values, truncation,
 * insertion and deletion, duplication, splicing of two packets, invalid UTF-8, fixed-header flag and
 * type tampering, and remaining-length tampering (wrong, overlong, non-minimal and oversize varints).
 * Body mutations re-encode a consistent remaining length half of the time, so that the mutated bytes
 * reach the packet parsers instead of always dying on a length mismatch.
 */
import type { Random } from '../helpers/prng.js';

const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff, 0xfe, 0x0b, 0x23, 0x26, 0x21, 0x27, 0x11, 0x15, 0x16, 0x2f, 0x23, 0x2b];
/** Overlong or surrogate UTF-8, U+0000, U+FFFF: all illegal in MQTT strings. */
const BAD_UTF8 = [Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x00]), Buffer.from([0xef, 0xbf, 0xbf]), Buffer.from([0xff]), Buffer.from([0xe2, 0x82])];

/** Encodes `n` as an MQTT variable byte integer, padded to `minBytes` (non-minimal when padded). */
export function varint(n: number, minBytes = 1): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0 || out.length + 1 < minBytes) b |= 0x80;
    out.push(b);
  } while (n > 0 || out.length < minBytes);
  return Buffer.from(out);
}

/** Splits an encoded packet into first byte, remaining-length field and body (undefined when unparsable). */
export function splitFixedHeader(b: Buffer): { first: number; lengthBytes: number; body: Buffer } | undefined {
  if (b.length < 2) return undefined;
  let i = 1;
  while (i < b.length && i <= 4 && (b[i]! & 0x80) !== 0) i++;
  if (i >= b.length) return undefined;
  return { first: b[0]!, lengthBytes: i, body: b.subarray(i + 1) };
}

/** Re-encodes the remaining length so that it matches the body. */
function withLength(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

/** The names of the mutation operators (for statistics). */
export const MUTATIONS = [
  'bitFlip',
  'byteSet',
  'interesting',
  'truncate',
  'insert',
  'delete',
  'duplicate',
  'splice',
  'badUtf8',
  'flags',
  'type',
  'length',
] as const;
export type MutationName = (typeof MUTATIONS)[number];

/**
 * Mutates one encoded packet `input` (1–3 rounds). `other` is a second valid packet for splicing.
 * Returns the bytes and the names of the operators applied.
 */
export function mutate(input: Buffer, other: Buffer, rnd: Random, maxPacketSize: number): { bytes: Buffer; ops: MutationName[] } {
  let b: Buffer = Buffer.from(input);
  const ops: MutationName[] = [];
  const rounds = rnd.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    const op = rnd.pick(MUTATIONS);
    ops.push(op);
    b = apply(op, b, other, rnd, maxPacketSize);
  }
  // Half of the body mutations keep a consistent remaining length (deeper into the parsers).
  if (!ops.includes('length') && !ops.includes('truncate') && rnd.chance(0.5)) {
    const h = splitFixedHeader(b);
    if (h !== undefined) b = withLength(h.first, h.body);
  }
  return { bytes: b, ops };
}

function at(b: Buffer, rnd: Random): number {
  return rnd.int(Math.max(1, b.length));
}

function apply(op: MutationName, b: Buffer, other: Buffer, rnd: Random, maxPacketSize: number): Buffer {
  switch (op) {
    case 'bitFlip':
      if (b.length > 0) b[at(b, rnd)]! ^= 1 << rnd.int(8);
      return b;
    case 'byteSet':
      if (b.length > 0) b[at(b, rnd)] = rnd.int(256);
      return b;
    case 'interesting':
      if (b.length > 0) b[at(b, rnd)] = rnd.pick(INTERESTING);
      return b;
    case 'truncate':
      return b.subarray(0, at(b, rnd));
    case 'insert': {
      const i = at(b, rnd);
      return Buffer.concat([b.subarray(0, i), rnd.bytes(rnd.range(1, 4)), b.subarray(i)]);
    }
    case 'delete': {
      const i = at(b, rnd);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + rnd.range(1, 4))]);
    }
    case 'duplicate': {
      const i = at(b, rnd);
      const j = Math.min(b.length, i + rnd.range(1, 8));
      return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
    }
    case 'splice': {
      const i = at(b, rnd);
      return Buffer.concat([b.subarray(0, i), other.subarray(rnd.int(Math.max(1, other.length)))]);
    }
    case 'badUtf8': {
      // Strings start after the fixed header; anywhere past byte 2 may hit one.
      const i = b.length > 3 ? rnd.range(2, b.length - 1) : at(b, rnd);
      const bad = rnd.pick(BAD_UTF8);
      return rnd.chance(0.5) ? Buffer.concat([b.subarray(0, i), bad, b.subarray(i)]) : Buffer.concat([b.subarray(0, i), bad, b.subarray(i + bad.length)]);
    }
    case 'flags':
      // Reserved fixed-header flags, QoS 3, DUP on QoS 0 …
      if (b.length > 0) b[0] = (b[0]! & 0xf0) | rnd.int(16);
      return b;
    case 'type':
      // Any packet type, including the reserved 0.
      if (b.length > 0) b[0] = (rnd.int(16) << 4) | (b[0]! & 0x0f);
      return b;
    case 'length': {
      const h = splitFixedHeader(b);
      if (h === undefined) return b;
      const head = Buffer.from([h.first]);
      switch (rnd.int(6)) {
        case 0: // shorter than the body
          return Buffer.concat([head, varint(Math.max(0, h.body.length - rnd.range(1, 8))), h.body]);
        case 1: // longer than the body (the rest never comes, or the next packet is swallowed)
          return Buffer.concat([head, varint(h.body.length + rnd.range(1, 8)), h.body]);
        case 2: // more than the broker accepts
          return Buffer.concat([head, varint(Math.min(268_435_455, maxPacketSize + rnd.range(0, 1000))), h.body]);
        case 3: // five-byte varint: malformed
          return Buffer.concat([head, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), h.body]);
        case 4: // non-minimal encoding of the right value
          return Buffer.concat([head, varint(h.body.length, Math.min(4, varint(h.body.length).length + rnd.range(1, 2))), h.body]);
        default: // the largest length the protocol can express
          return Buffer.concat([head, varint(268_435_455), h.body]);
      }
    }
  }
}

/** `n` random bytes with a plausible first byte half of the time (so that the length and body parsers run). */
export function randomBytes(rnd: Random): Buffer {
  const n = rnd.range(1, 64);
  const b = rnd.bytes(n);
  if (rnd.chance(0.5)) b[0] = (rnd.range(1, 15) << 4) | (rnd.chance(0.7) ? 0 : rnd.int(16));
  if (rnd.chance(0.5) && n > 1) b[1] = Math.min(127, n - 2);
  return b;
}

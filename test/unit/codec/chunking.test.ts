import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import { MqttProtocolError, PacketDecoder, encodePacket, type Packet, type PublishPacket } from '../../../lib/codec/index.js';
import { anyPacket } from './arbitraries.js';

function decodeChunks(chunks: Buffer[]): Packet[] {
  const decoder = new PacketDecoder();
  const out: Packet[] = [];
  for (const c of chunks) out.push(...decoder.push(c));
  expect(decoder.hasPartialPacket).toBe(false);
  return out;
}

/** Cuts `stream` at the given positions. */
function cut(stream: Buffer, positions: number[]): Buffer[] {
  const sorted = [...new Set(positions)].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  chunks.push(stream.subarray(prev));
  return chunks;
}

describe('streaming decoder: chunk splitting', () => {
  it('random packets cut at random places decode to the same packets', () => {
    fc.assert(
      fc.property(
        fc.array(anyPacket, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (packets, cuts) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p)));
          const chunks = cut(stream, cuts.map((c) => c % (stream.length + 1)));
          expect(decodeChunks(chunks)).toStrictEqual(packets);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a stream split at every single boundary decodes to the same packets', () => {
    const packets = fc.sample(anyPacket, { numRuns: 25, seed: 42 });
    const stream = Buffer.concat(packets.map((p) => encodePacket(p)));
    expect(decodeChunks([stream])).toStrictEqual(packets);
    // Deep equality per split would dominate the run time: compare re-encoded bytes instead (the
    // round-trip tests show that encoding is faithful).
    let mismatches = 0;
    for (let i = 0; i <= stream.length; i++) {
      const decoded = decodeChunks([stream.subarray(0, i), stream.subarray(i)]);
      if (decoded.length !== packets.length || !Buffer.concat(decoded.map((p) => encodePacket(p))).equals(stream)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('one byte at a time decodes to the same packets', () => {
    const packets = fc.sample(anyPacket, { numRuns: 60, seed: 7 });
    const stream = Buffer.concat(packets.map((p) => encodePacket(p)));
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    expect(decodeChunks(bytes)).toStrictEqual(packets);
  });

  it('many packets in one chunk come out in order, payloads viewing the chunk', () => {
    const packets: PublishPacket[] = [];
    for (let i = 0; i < 100; i++) {
      packets.push({ type: 3, topic: `t/${i}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false, dup: false, packetId: i + 1 });
    }
    const stream = Buffer.concat(packets.map((p) => encodePacket(p)));
    const seen: Packet[] = [];
    new PacketDecoder().feed(stream, (p) => seen.push(p));
    expect(seen).toStrictEqual(packets);
    for (const p of seen) expect((p as PublishPacket).payload.buffer).toBe(stream.buffer);
  });

  it('assembles a packet larger than the initial body buffer from small chunks', () => {
    const payload = Buffer.alloc(300 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const p: PublishPacket = { type: 3, topic: 'big', payload, qos: 0, retain: false, dup: false };
    const stream = Buffer.concat([encodePacket(p), encodePacket({ type: 12 })]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 1000) chunks.push(stream.subarray(i, i + 1000));
    expect(decodeChunks(chunks)).toStrictEqual([p, { type: 12 }]);
    // And with one chunk cut just after the fixed header.
    expect(decodeChunks([stream.subarray(0, 5), stream.subarray(5)])).toStrictEqual([p, { type: 12 }]);
  });

  it('keeps the rest of a chunk when the packet callback throws, and carries on', () => {
    const a = encodePacket({ type: 12 });
    const b = encodePacket({ type: 13 });
    const c = encodePacket({ type: 14 });
    const decoder = new PacketDecoder();
    const seen: number[] = [];
    const boom = new Error('handler failed');
    expect(() =>
      decoder.feed(Buffer.concat([a, b, c.subarray(0, 1)]), (p) => {
        seen.push(p.type);
        if (p.type === 12) throw boom;
      }),
    ).toThrow(boom);
    expect(decoder.error).toBeUndefined();
    expect(decoder.hasPartialPacket).toBe(true);
    decoder.feed(c.subarray(1), (p) => seen.push(p.type));
    expect(seen).toEqual([12, 13, 14]);
  });

  it('returns packets completed before more bytes arrive and waits for the rest', () => {
    const decoder = new PacketDecoder();
    const bytes = encodePacket({ type: 3, topic: 'a', payload: Buffer.from('xyz'), qos: 0, retain: false, dup: false });
    expect(decoder.push(bytes.subarray(0, 1))).toEqual([]);
    expect(decoder.hasPartialPacket).toBe(true);
    expect(decoder.push(bytes.subarray(1, 4))).toEqual([]);
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    const [p] = decoder.push(bytes.subarray(4));
    expect((p as PublishPacket).payload.toString()).toBe('xyz');
  });

  it('enforces the maximum packet size from the fixed header alone', () => {
    const decoder = new PacketDecoder({ maximumPacketSize: 100 });
    const ok = encodePacket({ type: 3, topic: 't', payload: Buffer.alloc(100 - 6), qos: 0, retain: false, dup: false });
    expect(ok.length).toBe(100);
    expect(decoder.push(ok)).toHaveLength(1);
    const big = encodePacket({ type: 3, topic: 't', payload: Buffer.alloc(100 - 5), qos: 0, retain: false, dup: false });
    // Only the first two bytes (type and Remaining Length) are needed to refuse it.
    const err = (() => {
      try {
        decoder.push(big.subarray(0, 2));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(MqttProtocolError);
    expect((err as MqttProtocolError).reasonCode).toBe(0x95);
    expect(decoder.error).toBe(err);
    expect(() => decoder.push(encodePacket({ type: 12 }))).toThrow(err as Error);
  });

  it('refuses a bad maximum packet size option', () => {
    expect(() => new PacketDecoder({ maximumPacketSize: 0 })).toThrow(RangeError);
    expect(() => new PacketDecoder({ maximumPacketSize: 1.5 })).toThrow(RangeError);
  });
});

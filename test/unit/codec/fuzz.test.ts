/**
 * Bounded fuzz test: 100,000 random mutations of valid packets, fed to the streaming decoder in random
 * chunks. Each must yield packets or an MqttProtocolError — never another exception, never a hang — and
 * every packet the decoder accepts must be one the encoder accepts and writes back identically.
 */
import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import { MqttProtocolError, PacketDecoder, decodePacket, encodePacket, type Packet } from '../../../lib/codec/index.js';
import { anyPacket } from './arbitraries.js';
import { anyPacket311 } from './arbitraries311.js';
import { Random } from '../../helpers/prng.js';

const ITERATIONS = 100_000;
/** The MQTT 3.1.1 and 3.1 decoders get fewer rounds each: they share the v5 parser's primitives. */
const ITERATIONS_311 = 30_000;


const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x30, 0x26, 0x0b, 0x23];

function mutate(input: Buffer, corpus: Buffer[], rnd: () => number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + Math.floor(rnd() * 3);
  const at = (): number => Math.floor(rnd() * Math.max(1, b.length));
  for (let r = 0; r < rounds; r++) {
    switch (Math.floor(rnd() * 8)) {
      case 0:
        if (b.length > 0) b[at()]! ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1:
        if (b.length > 0) b[at()] = Math.floor(rnd() * 256);
        break;
      case 2:
        if (b.length > 0) b[at()] = INTERESTING[Math.floor(rnd() * INTERESTING.length)]!;
        break;
      case 3:
        b = b.subarray(0, at());
        break;
      case 4: {
        const i = at();
        b = Buffer.concat([b.subarray(0, i), Buffer.from([Math.floor(rnd() * 256)]), b.subarray(i)]);
        break;
      }
      case 5: {
        const i = at();
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + Math.floor(rnd() * 4))]);
        break;
      }
      case 6: {
        const i = at();
        const j = Math.min(b.length, i + 1 + Math.floor(rnd() * 8));
        b = Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
        break;
      }
      default:
        b = Buffer.concat([b, corpus[Math.floor(rnd() * corpus.length)]!]);
    }
  }
  return b;
}

/** Mutates valid packets of `level`, decodes them in random chunks, and checks the decoder's contract. */
function fuzz(level: 3 | 4 | 5, iterations: number, seed: number): void {
  const opts = { protocolVersion: level };
  const corpus = fc.sample(level === 5 ? anyPacket : anyPacket311(level), { numRuns: 500, seed: 1234 }).map((p) => encodePacket(p, opts));
  const rng = new Random(seed);
  const rnd = (): number => rng.next();
  const failures: string[] = [];
  const reasonCounts = new Map<number, number>();
  let packetsDecoded = 0;
  let onPacket = (p: Packet): void => {
    packetsDecoded++;
    // Whatever the decoder accepts, the encoder must accept and reproduce.
    let again: Buffer;
    try {
      again = encodePacket(p, opts);
    } catch (e) {
      failures.push(`decoded but not encodable (${String(e)}): ${JSON.stringify(p)}`);
      return;
    }
    if (!encodePacket(decodePacket(again, opts), opts).equals(again)) failures.push(`unstable re-encoding: ${JSON.stringify(p)}`);
  };

  for (let i = 0; i < iterations && failures.length < 10; i++) {
    const input = mutate(corpus[i % corpus.length]!, corpus, rnd);
    const decoder = new PacketDecoder(opts);
    // Random chunking: whole, or cut once or twice.
    const c1 = Math.floor(rnd() * (input.length + 1));
    const c2 = c1 + Math.floor(rnd() * (input.length - c1 + 1));
    try {
      decoder.feed(input.subarray(0, c1), onPacket);
      decoder.feed(input.subarray(c1, c2), onPacket);
      decoder.feed(input.subarray(c2), onPacket);
    } catch (e) {
      if (!(e instanceof MqttProtocolError)) failures.push(`input ${input.toString('hex')}: ${String(e)}`);
      else if (e.reasonCode === 0x83) failures.push(`input ${input.toString('hex')}: decoder bug: ${e.message}`);
      else reasonCounts.set(e.reasonCode, (reasonCounts.get(e.reasonCode) ?? 0) + 1);
    }
  }
  onPacket = () => undefined;

  expect(failures).toEqual([]);
  // Not vacuous: many inputs decode, many are refused, for a variety of reasons.
  expect(packetsDecoded).toBeGreaterThan(iterations / 10);
  const refused = [...reasonCounts.values()].reduce((a, b) => a + b, 0);
  expect(refused).toBeGreaterThan(iterations / 10);
  expect(reasonCounts.size).toBeGreaterThanOrEqual(4);
}

describe('decoder fuzz', () => {
  it(`survives ${ITERATIONS} mutated packets with packets or MqttProtocolError only`, () => {
    fuzz(5, ITERATIONS, 0xc0dec);
  });

  it.each([4, 3] as const)(`MQTT level %i: survives ${ITERATIONS_311} mutated packets with packets or MqttProtocolError only`, (level) => {
    fuzz(level, ITERATIONS_311, 0x311 + level);
  });
});

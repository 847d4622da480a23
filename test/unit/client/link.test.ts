import { describe, expect, it } from '@jest/globals';
import { Writable, Duplex } from 'node:stream';
import { Link, type LinkHost } from '../../../lib/client/link.js';
import { encodePacket, PacketType } from '../../../lib/codec/index.js';

/** A duplex that records every chunk written to it, in order, and never produces data. */
function recordingStream(chunks: Buffer[]): Duplex {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk); // kept by reference: bytes changed after being handed out would show
      done();
    },
  });
  return Duplex.from({ writable: sink, readable: new Duplex({ read() {} }) }) as Duplex;
}

const host: LinkHost = { onPacket() {}, onLinkClosed() {}, onLinkDrain() {} };

describe('Link.writeAck', () => {
  it('writes exactly the bytes encodePacket makes, in order with other writes, across slab replacements', async () => {
    const chunks: Buffer[] = [];
    const stream = recordingStream(chunks);
    const link = new Link(stream as never, undefined, host);
    const expected: Buffer[] = [];
    // 3,000 acks (three 4 KiB slabs) with other packets interleaved now and then.
    for (let i = 1; i <= 3000; i++) {
      const type = i % 3 === 0 ? PacketType.PUBREC : i % 3 === 1 ? PacketType.PUBACK : PacketType.PUBCOMP;
      const reasonCode = i % 11 === 0 ? (type === PacketType.PUBCOMP ? 0x92 : 0x80) : 0;
      link.writeAck(type, i, reasonCode);
      expected.push(encodePacket({ type, packetId: i, reasonCode }));
      if (i % 700 === 0) {
        const other = encodePacket({ type: PacketType.PINGREQ });
        link.write(other);
        expected.push(other);
      }
      // Flush in the middle of a slab too: bytes already handed out must never change afterwards.
      if (i % 1500 === 0) link.flush();
    }
    link.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(Buffer.concat(chunks).equals(Buffer.concat(expected))).toBe(true);
    link.destroy();
    stream.destroy();
  });
});

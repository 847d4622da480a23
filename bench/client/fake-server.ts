/**
 * The client benchmark's server, run in its own process (forked by main.ts) so that it does not
 * share a core with the client being measured. It is not a broker: it finds packet boundaries,
 * looks only at what it must answer (type, QoS, packet id), answers with pre-encoded bytes, and
 * counts PUBLISH frames without decoding them.
 *
 * Controlled over IPC by the parent:
 *   { cmd: 'target', count }                → reply { event: 'target-set' }, then { event: 'received', count, ms } once `count` PUBLISH frames arrived
 *   { cmd: 'stream', count, topic, size }   → after the next SUBSCRIBE, stream `count` QoS 0 PUBLISH frames
 *   { cmd: 'stop' }                         → exit
 * On start it sends { event: 'listening', port }.
 */
import net from 'node:net';

const CONNACK = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]);
const PINGRESP = Buffer.from([0xd0, 0x00]);

let target = 0;
let received = 0;
let startedAt = 0;
let stream: { count: number; frames: Buffer; perBlock: number } | undefined;

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A block of identical QoS 0 PUBLISH frames, written repeatedly while streaming. */
function publishBlock(topic: string, size: number, perBlock: number): Buffer {
  const t = Buffer.from(topic);
  const body = 2 + t.length + 1 + size; // topic, property length 0, payload
  const frame = Buffer.concat([Buffer.from([0x30, ...varint(body)]), Buffer.from([t.length >> 8, t.length & 0xff]), t, Buffer.from([0]), Buffer.alloc(size, 0x61)]);
  return Buffer.concat(Array.from({ length: perBlock }, () => frame));
}

function startStreaming(socket: net.Socket, s: { count: number; frames: Buffer; perBlock: number }): void {
  const frameSize = s.frames.length / s.perBlock;
  let left = s.count;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, s.perBlock);
      left -= n;
      const ok = socket.write(n === s.perBlock ? s.frames : s.frames.subarray(0, n * frameSize));
      if (!ok) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending: Buffer | undefined;
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    let pos = 0;
    const replies: Buffer[] = [];
    while (pos < buf.length) {
      // Fixed header: type/flags byte and Remaining Length.
      if (buf.length - pos < 2) break;
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < buf.length && i < pos + 5; i++) {
        const b = buf[i]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if (b < 0x80) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || i + len > buf.length) break;
      const first = buf[pos]!;
      const type = first >> 4;
      if (type === 3) {
        received++;
        if (received === 1) startedAt = performance.now();
        const qos = (first >> 1) & 3;
        if (qos > 0) {
          const topicLen = (buf[i]! << 8) | buf[i + 1]!;
          const idAt = i + 2 + topicLen;
          replies.push(Buffer.from([qos === 1 ? 0x40 : 0x50, 0x02, buf[idAt]!, buf[idAt + 1]!]));
        }
        if (received === target) {
          process.send!({ event: 'received', count: received, ms: performance.now() - startedAt });
          target = 0;
        }
      } else if (type === 6) {
        replies.push(Buffer.from([0x70, 0x02, buf[i]!, buf[i + 1]!]));
      } else if (type === 1) {
        replies.push(CONNACK);
      } else if (type === 8) {
        replies.push(Buffer.from([0x90, 0x04, buf[i]!, buf[i + 1]!, 0x00, 0x00]));
        if (stream !== undefined) {
          const s = stream;
          stream = undefined;
          setImmediate(() => startStreaming(socket, s));
        }
      } else if (type === 12) {
        replies.push(PINGRESP);
      } else if (type === 14) {
        socket.end();
      }
      pos = i + len;
    }
    if (pos < buf.length) pending = buf.subarray(pos);
    if (replies.length === 1) socket.write(replies[0]);
    else if (replies.length > 1) socket.write(Buffer.concat(replies));
  });
});

process.on('message', (m: { cmd: string; count?: number; topic?: string; size?: number }) => {
  if (m.cmd === 'target') {
    target = m.count!;
    received = 0;
    // The client waits for this before publishing: frames counted before the reset would be lost.
    process.send!({ event: 'target-set' });
  } else if (m.cmd === 'stream') {
    const perBlock = 1024;
    stream = { count: m.count!, frames: publishBlock(m.topic!, m.size!, perBlock), perBlock };
    process.send!({ event: 'stream-ready' });
  } else if (m.cmd === 'stop') {
    server.close();
    process.exit(0);
  }
});

server.listen(0, '127.0.0.1', () => {
  process.send!({ event: 'listening', port: (server.address() as net.AddressInfo).port });
});

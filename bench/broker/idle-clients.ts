/**
 * Child process of the idle-memory benchmark (memory.ts): the connection generator, kept out of the
 * process that reads the brokers' memory. Opens `count` MQTT v5 connections to 127.0.0.1:`port`
 * (CONNECT, keep alive 60 s, clean start) in batches of 250, waits for every CONNACK, reports over
 * IPC and holds the connections idle until told to close them.
 *
 *   node dist/bench/broker/idle-clients.js <port> <count>   (forked by memory.js)
 */
import { connect, type Socket } from 'node:net';
import { connectFrame } from './frames.js';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const tag = `idle-${process.pid}`;
const sockets: Socket[] = [];

/** One connection, resolved once its CONNACK (0x20) arrived. */
function open(clientId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => reject(new Error(`no CONNACK for ${clientId}`)), 20_000);
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    s.once('connect', () => s.write(connectFrame('v5', clientId, 60)));
    s.once('data', (chunk: Buffer) => {
      clearTimeout(t);
      if (chunk[0] !== 0x20 || chunk[3] !== 0) reject(new Error(`${clientId}: not accepted (${chunk.subarray(0, 4).toString('hex')})`));
      else resolve(s);
    });
  });
}

async function main(): Promise<void> {
  for (let i = 0; i < count; i += 250) {
    const n = Math.min(250, count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, (_, k) => open(`${tag}-${i + k}`)))));
  }
  // Later errors (the broker stopping) are expected.
  for (const s of sockets) s.on('error', () => undefined);
  process.send!({ type: 'open', count: sockets.length });
}

process.on('message', (m: { type: string }) => {
  if (m.type !== 'close') return;
  for (const s of sockets) s.destroy();
  process.exit(0);
});
main().catch((err: unknown) => {
  process.send!({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});

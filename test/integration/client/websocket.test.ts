import { describe, it, expect, afterEach } from '@jest/globals';
import { WebSocketServer, type WebSocket } from 'ws';
import { MessageReceiver, MqttClient, WebSocketConnection } from '../../../lib/client/index.js';
import { PacketDecoder, PacketType, encodePacket, type Packet } from '../../../lib/codec/index.js';
import { deferred, withTimeout } from '../../helpers/wait.js';

let wss: WebSocketServer | undefined;
let client: MqttClient | undefined;
afterEach(async () => {
  await client?.disconnect();
  if (wss) {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss!.close(() => r()));
  }
  wss = client = undefined;
});

/** A WebSocket server that accepts only the `mqtt` subprotocol and hands each decoded packet to `onPacket`. */
async function server(onPacket: (p: Packet, ws: WebSocket) => void): Promise<{ port: number; frames: Buffer[]; protocols: string[] }> {
  const frames: Buffer[] = [];
  const protocols: string[] = [];
  wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (set) => {
      protocols.push(...set);
      return set.has('mqtt') ? 'mqtt' : false;
    },
  });
  await new Promise<void>((r) => wss!.once('listening', () => r()));
  wss.on('connection', (ws) => {
    const decoder = new PacketDecoder();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(true);
      frames.push(data);
      decoder.feed(data, (p) => onPacket(p, ws));
    });
  });
  return { port: (wss.address() as { port: number }).port, frames, protocols };
}

describe('WebSocketConnection', () => {
  it('speaks MQTT in binary frames with subprotocol mqtt; packets may span frames and share frames', async () => {
    const got = deferred<void>();
    const { port, frames, protocols } = await server((p, ws) => {
      if (p.type === PacketType.CONNECT) {
        // CONNACK cut in two frames.
        const connack = encodePacket({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 });
        ws.send(connack.subarray(0, 2));
        ws.send(connack.subarray(2));
      } else if (p.type === PacketType.SUBSCRIBE) {
        // SUBACK and two PUBLISH packets in one frame, a third PUBLISH spread over three frames.
        const suback = encodePacket({ type: PacketType.SUBACK, packetId: p.packetId, reasonCodes: [0] });
        const pub = (s: string) => encodePacket({ type: PacketType.PUBLISH, topic: 'w', payload: Buffer.from(s), qos: 0, retain: false, dup: false });
        ws.send(Buffer.concat([suback, pub('one'), pub('two')]));
        const third = pub('three');
        ws.send(third.subarray(0, 1));
        ws.send(third.subarray(1, 5));
        ws.send(third.subarray(5));
      } else if (p.type === PacketType.PUBLISH) {
        got.resolve();
      }
    });
    client = new MqttClient(new WebSocketConnection({ url: `ws://127.0.0.1:${port}/mqtt` }));
    await client.connect({ clientId: 'ws' });
    const r = new MessageReceiver();
    await client.subscribe({ subscriptions: [{ topicFilter: 'w', qos: 0 }] }, r);
    const texts = [await r.recv(), await r.recv(), await r.recv()].map((m) => m.payload.toString());
    expect(texts).toEqual(['one', 'two', 'three']);
    await client.publish({ topic: 'up', payload: 'x' });
    await withTimeout(got.promise, 2000, 'the PUBLISH');
    expect(protocols).toEqual(['mqtt']);
    expect(frames.length).toBeGreaterThanOrEqual(3);
  });

  it('fails to connect when the server does not agree on the mqtt subprotocol', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    await new Promise<void>((r) => wss!.once('listening', () => r()));
    const port = (wss.address() as { port: number }).port;
    client = new MqttClient(new WebSocketConnection({ url: `ws://127.0.0.1:${port}` }));
    await expect(client.connect()).rejects.toThrow(/subprotocol/i);
  });
});

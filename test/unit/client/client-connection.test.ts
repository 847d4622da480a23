import { describe, expect, it } from '@jest/globals';
import { Duplex } from 'node:stream';
import { ClientConnection, type ConnectionHost } from '../../../lib/client/client-connection.js';
import { ConnackError, ConnectionLostError, MemorySessionStore, type MqttClientError } from '../../../lib/client/index.js';
import { SessionState } from '../../../lib/client/session-state.js';
import { resolveSettings } from '../../../lib/client/settings.js';
import {
  PacketDecoder,
  PacketType,
  encodePacket,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  type PublishPacket,
} from '../../../lib/codec/index.js';
import { withTimeout } from '../../helpers/wait.js';

const { CONNECT, CONNACK, PUBLISH, PUBACK } = PacketType;

/** The server end of an in-memory stream: records what the client writes, sends what a test gives it. */
class FakeServer {
  readonly received: Packet[] = [];
  readonly stream: Duplex;
  private readonly decoder = new PacketDecoder();
  private waiter: (() => void) | undefined;

  constructor() {
    this.stream = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, done) => {
        this.decoder.feed(chunk, (p) => {
          this.received.push(p);
          this.waiter?.();
        });
        done();
      },
    });
  }

  send(packet: Packet): void {
    this.stream.push(encodePacket(packet));
  }

  /** Resolves once the client has written a packet of `type`. */
  async next(type: number): Promise<Packet> {
    const find = () => this.received.find((p) => p.type === type);
    while (find() === undefined) {
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), 2000, `packet type ${type}`);
    }
    return find()!;
  }
}

/** Records what a connection reports to its client. */
function recordingHost() {
  const events: string[] = [];
  const connacks: ConnackPacket[] = [];
  const losses: MqttClientError[] = [];
  const host: ConnectionHost = {
    connackReceived(_conn, connack) {
      events.push('connack');
      connacks.push(connack);
    },
    connectionLost(_conn, error) {
      events.push('lost');
      losses.push(error);
    },
    unhandled: () => false,
  };
  return { host, events, connacks, losses };
}

function sessionState(): SessionState {
  return new SessionState(new MemorySessionStore(), {
    pauseReading() {},
    resumeReading() {},
    handlerFailed() {},
    resubscribed() {},
  });
}

const connectPacket = (properties?: ConnectPacket['properties']): ConnectPacket => ({
  type: CONNECT,
  clientId: 'c1',
  keepAlive: 0,
  cleanStart: true,
  properties,
});

/** A connection that has completed its handshake with `connack`. */
async function established(
  state: SessionState,
  host: ConnectionHost,
  connack: Partial<ConnackPacket> = {},
  options = {},
): Promise<{ conn: ClientConnection; server: FakeServer }> {
  const server = new FakeServer();
  const conn = new ClientConnection(server.stream, connectPacket({ topicAliasMaximum: 2 }), resolveSettings(options), undefined, state, host);
  const done = conn.handshake(new AbortController().signal);
  await server.next(CONNECT);
  server.send({ type: CONNACK, sessionPresent: false, reasonCode: 0, ...connack } as ConnackPacket);
  await withTimeout(done, 2000, 'handshake');
  conn.resume([]);
  return { conn, server };
}

/** Resolves once `done()` holds, checking after every turn of the event loop. */
function until(done: () => boolean, what: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => void (done() ? resolve() : setImmediate(check));
      check();
    }),
    2000,
    what,
  );
}

const publish = (packetId: number, qos: 0 | 1, topic = 't'): PublishPacket => ({
  type: PUBLISH,
  topic,
  payload: Buffer.from('x'),
  qos,
  retain: false,
  dup: false,
  packetId: qos === 0 ? undefined : packetId,
});

describe('ClientConnection: one network connection', () => {
  it('applies its CONNACK (limits, session expiry) and tells the client before the handshake resolves', async () => {
    const { host, events, connacks } = recordingHost();
    const { conn } = await established(sessionState(), host, {
      properties: { receiveMaximum: 5, maximumQoS: 1, retainAvailable: false, topicAliasMaximum: 3, sessionExpiryInterval: 60 },
    });
    expect(events).toEqual(['connack']);
    expect(conn.connack).toBe(connacks[0]);
    expect(conn.isOpen).toBe(true);
    expect(conn.sessionExpiry).toBe(60);
    expect(conn.limits).toMatchObject({ receiveMaximum: 5, maximumQoS: 1, retainAvailable: false, topicAliasMaximum: 3 });
    conn.destroy();
  });

  it('rejects the handshake with the CONNACK reason code and reports nothing to the client', async () => {
    const { host, events } = recordingHost();
    const server = new FakeServer();
    const conn = new ClientConnection(server.stream, connectPacket(), resolveSettings({}), undefined, sessionState(), host);
    const done = conn.handshake(new AbortController().signal);
    await server.next(CONNECT);
    server.send({ type: CONNACK, sessionPresent: false, reasonCode: 0x87 });
    const error = await done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnackError);
    expect((error as ConnackError).reasonCode).toBe(0x87);
    expect(events).toEqual([]);
    expect(conn.isOpen).toBe(false);
    conn.destroy();
  });

  it('reports its loss once; a released connection reports nothing', async () => {
    const lost = recordingHost();
    const a = await established(sessionState(), lost.host);
    a.server.stream.push(null); // the server closes
    await until(() => lost.losses.length !== 0, 'connectionLost');
    expect(lost.events).toEqual(['connack', 'lost']);
    expect(lost.losses[0]).toBeInstanceOf(ConnectionLostError);
    expect(a.conn.isOpen).toBe(false);

    const released = recordingHost();
    const b = await established(sessionState(), released.host);
    b.conn.release(new ConnectionLostError(0, 'released'), false);
    b.server.stream.destroy();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(released.events).toEqual(['connack']);
    b.conn.destroy();
  });

  it('keeps topic aliases per connection: an alias set on one is unknown on the next', async () => {
    const state = sessionState();
    const { host } = recordingHost();
    const a = await established(state, host, { properties: { topicAliasMaximum: 4 } });
    const sent = a.conn.trySend({ ...publish(0, 0, 'a/b'), properties: { topicAlias: 1 } });
    expect(sent).toBeDefined();
    await sent;
    expect(a.conn.resolveTopic(1)).toBe('a/b');
    a.conn.destroy();
    const b = await established(state, host, { properties: { topicAliasMaximum: 4 } });
    expect(() => b.conn.resolveTopic(1)).toThrow(/not known on this connection/);
    b.conn.destroy();
  });

  it('acks a message only on the connection that delivered it (manualAck), found by identity', async () => {
    const state = sessionState();
    const { host, losses } = recordingHost();
    const got: PublishPacket[] = [];
    state.subscriptions.add([{ topicFilter: 't', qos: 1 }], { identifier: undefined, userProperties: undefined }, (m) => void got.push(m));
    const a = await established(state, host, {}, { manualAck: true });
    a.server.send(publish(7, 1));
    a.server.send(publish(8, 1));
    await until(() => got.length === 2, 'delivery');
    const [first, second] = got as [PublishPacket, PublishPacket];
    // The message the application sees carries nothing of the connection.
    expect(Object.getOwnPropertySymbols(first)).toEqual([]);
    expect(a.conn.ack({ ...first }, 0)).toBe(false); // same packet id, another object
    expect(a.conn.ack(first, 0)).toBe(true);
    expect(((await a.server.next(PUBACK)) as { packetId: number }).packetId).toBe(7);

    a.server.stream.push(null);
    await until(() => losses.length === 1, 'connectionLost');
    const b = await established(state, host, {}, { manualAck: true });
    a.conn.supersede();
    expect(b.conn.ack(second, 0)).toBe(false);
    expect(a.conn.ack(second, 0)).toBe(false);
    expect(a.server.received.filter((p) => p.type === PUBACK)).toHaveLength(1);
    a.conn.destroy();
    b.conn.destroy();
  });
});

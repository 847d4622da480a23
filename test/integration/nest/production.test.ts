/**
 * The transport in production (issue 13), against real brokers on ephemeral ports: startup before
 * the broker is up, bounded startup, bad options, broker restarts (ours and Mosquitto, stop + start
 * on the same port) under 1,000 sequential and 1,000 concurrent requests, the restart race of
 * callers and responders, per-call timeouts, the offline queue, lifecycle log lines, the
 * handler-error policy and graceful shutdown with a handler mid-way.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Logger } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import {
  ClientMqtt5,
  Mqtt5ClosedError,
  Mqtt5ConnectFailedError,
  Mqtt5Context,
  Mqtt5NoRespondersError,
  Mqtt5OfflineQueueFullError,
  Mqtt5OptionsError,
  Mqtt5RecordBuilder,
  Mqtt5RequestTimeoutError,
  Mqtt5TransportError,
  ServerMqtt5,
} from '../../../lib/index.js';
import { mosquittoTestsEnabled } from '../../helpers/mosquitto.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { CaptureLogger, createService, FAST, freePort, restartableBroker, type RestartableBroker } from './production-helpers.js';

const capture = new CaptureLogger();

/** Gates of the slow handler, by request data. */
const gates = new Map<number, { started: Deferred<void>; release: Deferred<void> }>();
function gate(n: number): { started: Deferred<void>; release: Deferred<void> } {
  let g = gates.get(n);
  if (!g) gates.set(n, (g = { started: deferred<void>(), release: deferred<void>() }));
  return g;
}

/** Events handled, and failures to inject, by topic suffix. */
const events: { data: unknown; dup: boolean }[] = [];
const eventSeen: Deferred<void>[] = [];
let failEvents = new Set<unknown>();

@Controller()
class ProductionController {
  @MessagePattern('prod/echo')
  echo(@Payload() n: number): number {
    return n;
  }

  @MessagePattern('prod/slow')
  async slow(@Payload() n: number): Promise<number> {
    const g = gate(n);
    g.started.resolve();
    await g.release.promise;
    return n * 10;
  }
}

/** An event handler in a shared group; it fails on the data in `failEvents`. */
@Controller()
class EventController {
  @EventPattern('prod/evt', { qos: 1, share: 'prod' })
  handle(@Payload() data: unknown, @Ctx() ctx: any): void {
    events.push({ data, dup: (ctx as Mqtt5Context).isDuplicate() });
    for (const d of eventSeen.splice(0)) d.resolve();
    if (failEvents.has(data)) throw new Error(`handler failed on ${String(data)}`);
  }
}

/** The same, not shared: for a service that resumes its own session. */
@Controller()
class OwnEventController {
  @EventPattern('prod/own-evt', { qos: 1 })
  handle(@Payload() data: unknown, @Ctx() ctx: any): void {
    events.push({ data, dup: (ctx as Mqtt5Context).isDuplicate() });
    for (const d of eventSeen.splice(0)) d.resolve();
    if (failEvents.has(data)) throw new Error(`handler failed on ${String(data)}`);
  }
}

beforeAll(() => Logger.overrideLogger(capture));
afterAll(() => Logger.overrideLogger(false));

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
  gates.clear();
  events.length = 0;
  failEvents = new Set();
});

async function service(url: string, options: Record<string, unknown> = {}, controllers: (new () => object)[] = [ProductionController]) {
  const s = await createService(controllers, { url, clientOptions: FAST, ...options }, capture);
  cleanup.push(() => s.app.close());
  return s;
}

function caller(url: string, options: Record<string, unknown> = {}): ClientMqtt5 {
  const c = new ClientMqtt5({ url, clientOptions: FAST, ...options });
  cleanup.push(() => c.close());
  return c;
}

async function broker(kind: 'embedded' | 'mosquitto'): Promise<RestartableBroker> {
  const b = restartableBroker(kind, await freePort());
  await b.start();
  cleanup.push(() => b.stop());
  return b;
}

const send = <T = number>(c: ClientMqtt5, topic: string, data: unknown): Promise<T> => firstValueFrom(c.send<T>(topic, data));
const outcome = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (e: unknown) => e);

describe('startup', () => {
  it('broker started 3 s after the microservice and the caller: both connect and serve, one warning per attempt, no password', async () => {
    const port = await freePort();
    const b = restartableBroker('embedded', port);
    cleanup.push(() => b.stop());
    const url = `mqtt://svc:s3cret@127.0.0.1:${port}`;
    const from = capture.lines.length;
    const { app } = await service(url);
    const c = caller(url);
    const started = performance.now();
    const listening = app.listen();
    const connecting = c.connect();
    const answer = send(c, 'prod/echo', 7); // waits in the offline queue meanwhile
    const up = new Promise<void>((resolve, reject) => setTimeout(() => b.start().then(resolve, reject), 3000));
    await withTimeout(Promise.all([listening, connecting, up]), 15_000, 'startup');
    expect(performance.now() - started).toBeGreaterThanOrEqual(2900);
    expect(await withTimeout(answer, 10_000, 'answer')).toBe(7);
    const lines = capture.lines.slice(from);
    for (const context of ['ServerMqtt5', 'ClientMqtt5']) {
      const warnings = lines.filter((l) => l.context === context && l.level === 'warn' && /^Cannot connect to/.test(l.message));
      expect(warnings.length).toBeGreaterThanOrEqual(3);
      expect(warnings[0]!.message).toMatch(new RegExp(`^Cannot connect to mqtt://127\\.0\\.0\\.1:${port} \\(attempt 1\\): .*ECONNREFUSED.*; retrying in \\d+ ms$`));
      expect(lines.some((l) => l.context === context && l.level === 'log' && new RegExp(`^Connected to mqtt://127\\.0\\.0\\.1:${port} as .* \\(session present: no\\)$`).test(l.message))).toBe(true);
    }
    expect(lines.map((l) => l.message).join('\n')).not.toContain('s3cret');
  }, 30_000);

  it('bounded attempts end with a clear Mqtt5ConnectFailedError from listen(), connect(), send() and emit()', async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const { app } = await service(url, { connectAttempts: 2 });
    const listenError = await outcome(app.listen());
    expect(listenError).toBeInstanceOf(Mqtt5ConnectFailedError);
    expect(listenError).toMatchObject({ code: 'CONNECT_FAILED', attempts: 2, url });
    const c = caller(url, { connectAttempts: 2 });
    const [connectError, sendError, emitError] = await Promise.all([
      outcome(c.connect()),
      outcome(send(c, 'prod/echo', 1)),
      outcome(firstValueFrom(c.emit('prod/evt', 1), { defaultValue: undefined })),
    ]);
    for (const e of [connectError, sendError, emitError]) {
      expect(e).toBeInstanceOf(Mqtt5ConnectFailedError);
      expect((e as Error).message).toMatch(new RegExp(`^Could not connect to mqtt://127\\.0\\.0\\.1:${port} after 2 attempts`));
    }
    expect(c.queuedCalls).toBe(0);
  }, 20_000);

  it('a bad URL throws from the constructor, naming the option', () => {
    for (const make of [() => new ServerMqtt5({ url: 'mqtt//127.0.0.1:1883' }), () => new ClientMqtt5({ url: 'mqtt//127.0.0.1:1883' })]) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Mqtt5OptionsError);
      expect(error).toBeInstanceOf(Mqtt5TransportError);
      expect((error as Error).message).toMatch(/\burl\b/);
    }
  });
});

const kinds: ('embedded' | 'mosquitto')[] = mosquittoTestsEnabled() ? ['embedded', 'mosquitto'] : ['embedded'];

describe.each(kinds)('broker restart (%s)', (kind) => {
  /**
   * Every request settles: answered with its own value, or failed with a timeout or, for a
   * request the broker had taken when it went down without keeping the session, a connection-lost
   * error — never hanging, never another error, never answered twice.
   */
  function tally(results: unknown[]): { answered: number; codes: Record<string, number> } {
    const codes: Record<string, number> = {};
    let answered = 0;
    results.forEach((r, i) => {
      if (r === i) answered++;
      else codes[r instanceof Mqtt5TransportError ? r.code : `unexpected: ${String(r)}`] = (codes[r instanceof Mqtt5TransportError ? r.code : `unexpected: ${String(r)}`] ?? 0) + 1;
    });
    for (const code of Object.keys(codes)) expect(['REQUEST_TIMEOUT', 'CONNECTION_LOST']).toContain(code);
    return { answered, codes };
  }

  it('1,000 sequential and 1,000 concurrent send()s across a restart: each answered or failed with a clear error, none hangs', async () => {
    const b = await broker(kind);
    const { app } = await service(b.url);
    await app.listen();
    const c = caller(b.url, { requestTimeout: 8000 });
    await c.connect();
    const from = capture.lines.length;

    // Sequential: the broker restarts after the 300th answer.
    let restarted: Promise<void> | undefined;
    const sequential: unknown[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i === 300) restarted = b.stop().then(() => b.start());
      sequential.push(await outcome(send(c, 'prod/echo', i)));
    }
    await restarted;
    const seq = tally(sequential);
    console.log(`${kind} sequential: ${seq.answered} answered, ${JSON.stringify(seq.codes)}`);
    expect(seq.answered).toBeGreaterThanOrEqual(998); // at most the one in flight at the stop is lost

    // Concurrent: all 1,000 at once; the broker restarts after the 100th answer.
    let answeredSoFar = 0;
    let restart: Promise<void> | undefined;
    const concurrent = await withTimeout(
      Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          outcome(
            send(c, 'prod/echo', i).then((v) => {
              if (++answeredSoFar === 100) restart = b.stop().then(() => b.start());
              return v;
            }),
          ),
        ),
      ),
      60_000,
      'concurrent requests',
    );
    await restart;
    const con = tally(concurrent);
    console.log(`${kind} concurrent: ${con.answered} answered, ${JSON.stringify(con.codes)}`);
    expect(con.answered).toBeGreaterThanOrEqual(100);
    expect(c.pendingRequests).toBe(0);
    expect(c.queuedCalls).toBe(0);
    // The service still serves afterwards.
    expect(await send(c, 'prod/echo', 5)).toBe(5);

    // Lifecycle lines of both sides, with context.
    const lines = capture.lines.slice(from);
    for (const context of ['ServerMqtt5', 'ClientMqtt5']) {
      const of = (level: string, re: RegExp) => lines.some((l) => l.context === context && l.level === level && re.test(l.message));
      expect(of('warn', new RegExp(`^Disconnected from ${b.url.replace(/\./g, '\\.')}: .* \\[.* \\(0x[0-9a-f]{2}\\)\\]$`))).toBe(true);
      expect(of('log', /^Reconnecting to mqtt:\/\/127\.0\.0\.1:\d+: attempt 1 in \d+ ms$/)).toBe(true);
      expect(of('log', /^Reconnected to mqtt:\/\/127\.0\.0\.1:\d+ as .* \(session present: no\)$/)).toBe(true);
    }
    expect(lines.some((l) => l.context === 'ServerMqtt5' && l.level === 'log' && /^Resubscribed to prod\/echo \(Granted QoS \d \(0x0\d\)\)$/.test(l.message))).toBe(true);
  }, 120_000);
});

describe('no responders', () => {
  it('restart race: the caller reconnects before the service resubscribed; its request is published again and answered', async () => {
    const b = await broker('embedded');
    // The service comes back 1.5 s after the broker (its backoff), the caller within 50 ms.
    const { app } = await service(b.url, { clientOptions: { initialReconnectDelay: 1500, maxReconnectDelay: 1500, reconnectJitter: 0 } });
    await app.listen();
    const c = caller(b.url, { requestTimeout: 10_000 });
    await c.connect();
    expect(await send(c, 'prod/echo', 1)).toBe(1);
    const from = capture.lines.length;
    await b.stop();
    await b.start();
    await capture.next('ClientMqtt5', 'log', /^Reconnected to /, 10_000, from);
    const serviceBack = capture.lines.slice(from).some((l) => l.context === 'ServerMqtt5' && /^Reconnected to /.test(l.message));
    expect(serviceBack).toBe(false); // the race is set up: nobody subscribes prod/echo right now
    expect(await withTimeout(send(c, 'prod/echo', 2), 10_000, 'request across the race')).toBe(2);
    expect(capture.lines.slice(from).some((l) => l.context === 'ServerMqtt5' && /^Resubscribed to prod\/echo/.test(l.message))).toBe(true);
  }, 30_000);

  it("outside the grace window 0x10 fails at once ('fail'); 'wait' publishes again until the timeout", async () => {
    const b = await broker('embedded');
    const strict = caller(b.url, { noRespondersGrace: 0 });
    const patient = caller(b.url, { noResponders: 'wait', requestTimeout: 600 });
    await Promise.all([strict.connect(), patient.connect()]);
    expect(await outcome(send(strict, 'nobody/here', 1))).toBeInstanceOf(Mqtt5NoRespondersError);
    const started = performance.now();
    const waited = await outcome(send(patient, 'nobody/here', 1));
    expect(waited).toBeInstanceOf(Mqtt5RequestTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(590);
    // A responder arriving while 'wait' re-publishes gets the request.
    const late = send(patient, 'prod/echo', 3);
    const { app } = await service(b.url);
    await app.listen();
    expect(await outcome(late)).toBe(3);
  }, 20_000);
});

describe('per-call timeout and the offline queue', () => {
  it('Mqtt5RecordBuilder.setTimeout() bounds one send(): pending map and offline queue', async () => {
    const b = await broker('embedded');
    const { app } = await service(b.url);
    await app.listen();
    const c = caller(b.url, { requestTimeout: 30_000 });
    await c.connect();
    let started = performance.now();
    const error = await outcome(send(c, 'prod/slow', new Mqtt5RecordBuilder(1).setTimeout(300).build()));
    expect(error).toBeInstanceOf(Mqtt5RequestTimeoutError);
    expect(error).toMatchObject({ code: 'REQUEST_TIMEOUT', timeoutMs: 300 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(c.pendingRequests).toBe(0);
    gate(1).release.resolve();
    // Other calls keep the client's timeout.
    expect(await send(c, 'prod/echo', 2)).toBe(2);

    // While the broker is down, the call waits in the offline queue, within its own timeout.
    await b.stop();
    started = performance.now();
    const offline = await outcome(send(c, 'prod/echo', new Mqtt5RecordBuilder(3).setTimeout(250).build()));
    expect(offline).toBeInstanceOf(Mqtt5RequestTimeoutError);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(c.queuedCalls).toBe(0);
  }, 20_000);

  it('the offline queue is bounded (Mqtt5OfflineQueueFullError, never a silent drop) and closed by close()', async () => {
    const port = await freePort();
    const c = new ClientMqtt5({ url: `mqtt://127.0.0.1:${port}`, offlineQueueLimit: 2, clientOptions: FAST });
    const first = outcome(send(c, 'prod/echo', 1));
    const second = outcome(send(c, 'prod/echo', 2));
    const third = await outcome(send(c, 'prod/echo', 3));
    expect(third).toBeInstanceOf(Mqtt5OfflineQueueFullError);
    expect(third).toMatchObject({ code: 'OFFLINE_QUEUE_FULL', limit: 2 });
    expect(c.queuedCalls).toBe(2);
    await c.close();
    for (const e of await Promise.all([first, second])) expect(e).toBeInstanceOf(Mqtt5ClosedError);
  }, 10_000);
});

describe('graceful shutdown', () => {
  it('app.close() with a handler mid-way: it finishes, its reply goes out, then the service disconnects', async () => {
    const b = await broker('embedded');
    const { app, server } = await service(b.url, { shutdownTimeout: 10_000 });
    await app.listen();
    const c = caller(b.url);
    await c.connect();
    const reply = send(c, 'prod/slow', 4);
    await withTimeout(gate(4).started.promise, 5000, 'handler started');
    const from = capture.lines.length;
    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    // Stopped taking new messages: the service's subscription is gone (a request gets 0x10).
    const strict = caller(b.url, { noRespondersGrace: 0 });
    await strict.connect();
    expect(await outcome(send(strict, 'prod/echo', 1))).toBeInstanceOf(Mqtt5NoRespondersError);
    expect(closed).toBe(false);
    expect(server.handlersInFlight).toBe(1);
    gate(4).release.resolve();
    expect(await withTimeout(reply, 5000, 'reply of the handler mid-way')).toBe(40);
    await withTimeout(closing, 5000, 'close');
    expect(capture.lines.slice(from).some((l) => l.context === 'ServerMqtt5' && /^Disconnected from .* \(closed\)$/.test(l.message))).toBe(true);
  }, 20_000);

  it('shutdownTimeout bounds it: a handler that never finishes does not hold close() up', async () => {
    const b = await broker('embedded');
    const { app } = await service(b.url, { shutdownTimeout: 300 });
    await app.listen();
    const c = caller(b.url);
    await c.connect();
    void send(c, 'prod/slow', 5).catch(() => undefined);
    await withTimeout(gate(5).started.promise, 5000, 'handler started');
    const started = performance.now();
    await app.close();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(capture.lines.some((l) => l.context === 'ServerMqtt5' && l.level === 'warn' && /still being handled after 300 ms \(shutdownTimeout\)/.test(l.message))).toBe(true);
    gate(5).release.resolve();
  }, 20_000);
});

describe('onHandlerError', () => {
  /** Emits `data` at QoS 1 and waits until some service handled it `times` times in all. */
  async function emitAndSee(c: ClientMqtt5, data: string, times = 1, topic = 'prod/evt'): Promise<void> {
    await firstValueFrom(c.emit(topic, new Mqtt5RecordBuilder(data).setQoS(1).build()), { defaultValue: undefined });
    await waitEvents(data, times);
  }

  async function waitEvents(data: string, times: number): Promise<void> {
    while (events.filter((e) => e.data === data).length < times) {
      const seen = deferred<void>();
      eventSeen.push(seen);
      await withTimeout(seen.promise, 10_000, `event ${data} handled ${times} time(s)`);
    }
  }

  it("'redeliver' (our broker, $share group): a failed event is not acknowledged and goes to another member when the first one shuts down; 'ack' keeps today's behaviour", async () => {
    const b = await broker('embedded');
    const c = caller(b.url);
    await c.connect();
    for (const policy of ['redeliver', 'ack'] as const) {
      events.length = 0;
      failEvents = new Set([`bad-${policy}`]);
      const first = await service(b.url, { onHandlerError: policy }, [EventController]);
      await first.app.listen();
      await emitAndSee(c, `bad-${policy}`);
      failEvents = new Set();
      const second = await service(b.url, { onHandlerError: policy }, [EventController]);
      await second.app.listen();
      await first.app.close();
      // A marker after the first member left: handled by the second one, after any redelivery.
      await emitAndSee(c, `marker-${policy}`);
      // The broker hands the unacknowledged message over when the first member's connection ends,
      // before the marker is published: by the marker's turn it has been handled again, or never.
      expect(events.filter((e) => e.data === `bad-${policy}`)).toHaveLength(policy === 'redeliver' ? 2 : 1);
      await second.app.close();
    }
  }, 30_000);

  it.each(kinds)("'redeliver' (%s, persistent session): the failed event comes again when the service resumes its session", async (kind) => {
    const b = await broker(kind);
    const c = caller(b.url);
    await c.connect();
    const options = { onHandlerError: 'redeliver', clientId: `own-${kind}-${process.pid}`, sessionExpiryInterval: 60, cleanStart: false };
    failEvents = new Set(['own-bad']);
    const first = await service(b.url, options, [OwnEventController]);
    await first.app.listen();
    await emitAndSee(c, 'own-bad', 1, 'prod/own-evt');
    failEvents = new Set();
    // Graceful close keeps a persistent session's non-shared subscription (and the message) for the restart.
    await first.app.close();
    const second = await service(b.url, options, [OwnEventController]);
    await second.app.listen();
    await waitEvents('own-bad', 2);
    const again = events.filter((e) => e.data === 'own-bad');
    expect(again).toHaveLength(2);
    expect(again[1]!.dup).toBe(true);
  }, 30_000);
});

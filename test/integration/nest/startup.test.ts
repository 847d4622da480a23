/**
 * Startup and lifecycle building blocks against a real broker (our MqttBroker on an ephemeral
 * port, stopped and started again on the same port): connectWithRetry keeps trying a broker that
 * is not up yet, logging one warning per attempt; bounded attempts / deadline end with a clear
 * Mqtt5ConnectFailedError; close() aborts; logClientLifecycle logs connected / disconnected /
 * reconnecting / reconnected / resubscribed / closed, never a password.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MqttBroker } from '../../../lib/broker/index.js';
import { MessageReceiver, MqttClient, TcpConnection } from '../../../lib/client/index.js';
import { connectWithRetry } from '../../../lib/nest/connect-retry.js';
import { Mqtt5ClosedError, Mqtt5ConnectFailedError, Mqtt5ConnectionRefusedError, Mqtt5TransportError } from '../../../lib/nest/index.js';
import { logClientLifecycle, type Mqtt5Logger } from '../../../lib/nest/lifecycle-log.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { freePort } from '../../helpers/free-port.js';

/** A logger that records lines and lets a test await one matching a pattern. */
class RecordingLogger implements Mqtt5Logger {
  readonly lines: { level: string; message: string }[] = [];
  private waiters: { level: string; pattern: RegExp; done: Deferred<string> }[] = [];
  log(message: unknown): void {
    this.add('log', String(message));
  }
  warn(message: unknown): void {
    this.add('warn', String(message));
  }
  error(message: unknown): void {
    this.add('error', String(message));
  }
  /** Resolves with the first line (past or future) of `level` matching `pattern`. */
  next(level: string, pattern: RegExp, ms = 10_000): Promise<string> {
    const seen = this.lines.find((l) => l.level === level && pattern.test(l.message));
    if (seen) return Promise.resolve(seen.message);
    const done = deferred<string>();
    this.waiters.push({ level, pattern, done });
    return withTimeout(done.promise, ms, `${level} ${pattern}`);
  }
  count(level: string, pattern: RegExp): number {
    return this.lines.filter((l) => l.level === level && pattern.test(l.message)).length;
  }
  private add(level: string, message: string): void {
    this.lines.push({ level, message });
    this.waiters = this.waiters.filter((w) => {
      if (w.level !== level || !w.pattern.test(message)) return true;
      w.done.resolve(message);
      return false;
    });
  }
}

async function startBroker(port: number): Promise<MqttBroker> {
  const broker = new MqttBroker();
  await broker.listen({ tcp: { port, host: '127.0.0.1' } });
  return broker;
}

const FAST = { initialReconnectDelay: 100, maxReconnectDelay: 400, reconnectJitter: 0.2 };

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

function client(port: number): MqttClient {
  const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { ...FAST, connectTimeout: 2000 });
  cleanup.push(() => c.disconnect());
  return c;
}

describe('connectWithRetry', () => {
  it('keeps trying until a broker started 3 s later is up, one warning per failed attempt', async () => {
    const port = await freePort();
    const logger = new RecordingLogger();
    const c = client(port);
    const started = performance.now();
    const connecting = connectWithRetry(
      c,
      { connectOptions: { clientId: 'late-broker' }, connectAttempts: Infinity, connectTimeout: 0, clientOptions: FAST, url: `mqtt://user:pw@127.0.0.1:${port}` },
      logger,
    );
    // The scenario itself: the broker appears 3 s after the service began connecting.
    const brokerUp = new Promise<MqttBroker>((resolve, reject) => setTimeout(() => startBroker(port).then(resolve, reject), 3000));
    cleanup.push(async () => (await brokerUp).close());
    const connack = await withTimeout(connecting, 10_000, 'connectWithRetry');
    expect(connack.reasonCode).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2900);
    expect(c.state).toBe('connected');
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings.length).toBeGreaterThanOrEqual(3); // 100, 200, 400, 400 … ms apart over 3 s
    expect(warnings[0]!.message).toMatch(new RegExp(`^Cannot connect to mqtt://127\\.0\\.0\\.1:${port} \\(attempt 1\\): .*ECONNREFUSED.*; retrying in \\d+ ms$`));
    expect(warnings.map((w) => w.message).join('\n')).not.toContain('pw@');
    warnings.forEach((w, i) => expect(w.message).toContain(`(attempt ${i + 1})`));
  });

  it('bounded attempts: a clear Mqtt5ConnectFailedError after exactly connectAttempts attempts', async () => {
    const port = await freePort();
    const logger = new RecordingLogger();
    const error = await connectWithRetry(
      client(port),
      { connectOptions: {}, connectAttempts: 3, connectTimeout: 0, clientOptions: FAST },
      logger,
    ).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Mqtt5ConnectFailedError);
    expect(error).toMatchObject({ code: 'CONNECT_FAILED', attempts: 3, url: `mqtt://127.0.0.1:${port}` });
    expect((error as Error).message).toMatch(new RegExp(`^Could not connect to mqtt://127\\.0\\.0\\.1:${port} after 3 attempts: .*ECONNREFUSED`));
    expect((error as Error).cause).toMatchObject({ code: 'CONNECT_FAILED' });
    expect(logger.count('warn', /of 3\)/)).toBe(2); // the third failure is the error, not a warning
  });

  it('a deadline (connectTimeout) ends the attempts with Mqtt5ConnectFailedError', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await connectWithRetry(
      client(port),
      { connectOptions: {}, connectAttempts: Infinity, connectTimeout: 700, clientOptions: FAST },
      new RecordingLogger(),
    ).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Mqtt5ConnectFailedError);
    expect((error as Error).message).toContain('connectTimeout');
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('close() during startup aborts with Mqtt5ClosedError', async () => {
    const port = await freePort();
    const abort = new AbortController();
    const logger = new RecordingLogger();
    const connecting = connectWithRetry(
      client(port),
      { connectOptions: {}, connectAttempts: Infinity, connectTimeout: 0, clientOptions: FAST, signal: abort.signal },
      logger,
    );
    await logger.next('warn', /attempt 2\)/);
    abort.abort();
    await expect(withTimeout(connecting, 2000, 'abort')).rejects.toBeInstanceOf(Mqtt5ClosedError);
  });

  it('a refusal retrying cannot fix fails at once with Mqtt5ConnectionRefusedError', async () => {
    const port = await freePort();
    const broker = new MqttBroker({ authenticate: () => ({ reasonCode: 0x86 }) });
    await broker.listen({ tcp: { port, host: '127.0.0.1' } });
    cleanup.push(() => broker.close());
    const logger = new RecordingLogger();
    const error = await connectWithRetry(client(port), { connectOptions: {}, connectAttempts: 5, connectTimeout: 0, clientOptions: FAST }, logger).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Mqtt5ConnectionRefusedError);
    expect(error).toMatchObject({ code: 'CONNECTION_REFUSED', reasonCode: 0x86, reasonName: 'Bad User Name or Password' });
    expect(logger.lines).toEqual([]);
  });
});

describe('connectWithRetry: what is retried', () => {
  it('a refusal that may pass (0x89 Server busy) is retried; connects once the broker accepts', async () => {
    const port = await freePort();
    let refusals = 2;
    const broker = new MqttBroker({ authenticate: () => (refusals-- > 0 ? { reasonCode: 0x89 } : true) });
    await broker.listen({ tcp: { port, host: '127.0.0.1' } });
    cleanup.push(() => broker.close());
    const logger = new RecordingLogger();
    const c = client(port);
    await connectWithRetry(c, { connectOptions: {}, connectAttempts: 5, connectTimeout: 0, clientOptions: FAST }, logger);
    expect(c.state).toBe('connected');
    expect(logger.lines.map((l) => l.message)).toEqual([
      expect.stringMatching(/\(attempt 1 of 5\): Connection refused: Server busy; retrying in \d+ ms$/),
      expect.stringMatching(/\(attempt 2 of 5\): Connection refused: Server busy; retrying in \d+ ms$/),
    ]);
  });

  it('a misuse is not retried: connecting a connected client fails at once with INVALID_STATE', async () => {
    const port = await freePort();
    const broker = await startBroker(port);
    cleanup.push(() => broker.close());
    const c = client(port);
    await c.connect();
    const logger = new RecordingLogger();
    const error = await connectWithRetry(c, { connectOptions: {}, connectAttempts: 5, connectTimeout: 0, clientOptions: FAST }, logger).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Mqtt5TransportError);
    expect(error).toMatchObject({ code: 'INVALID_STATE' });
    expect(logger.lines).toEqual([]);
  });
});

describe('logClientLifecycle', () => {
  it('logs connected, disconnected, reconnecting, reconnected, resubscribed and closed across a broker restart on the same port', async () => {
    const port = await freePort();
    let broker = await startBroker(port);
    cleanup.push(() => broker.close());
    const logger = new RecordingLogger();
    const c = client(port);
    const stop = logClientLifecycle(c, logger, `mqtt://admin:hunter2@127.0.0.1:${port}`);
    await c.connect({ clientId: 'lifecycle' });
    await c.subscribe({ subscriptions: [{ topicFilter: 'life/#', qos: 1 }] }, new MessageReceiver());
    expect(await logger.next('log', /^Connected/)).toBe(`Connected to mqtt://127.0.0.1:${port} as lifecycle (session present: no)`);

    await broker.close();
    expect(await logger.next('warn', /^Disconnected/)).toMatch(new RegExp(`^Disconnected from mqtt://127\\.0\\.0\\.1:${port}: .+ \\[.+ \\(0x[0-9a-f]{2}\\)\\]$`));
    expect(await logger.next('log', /^Reconnecting/)).toMatch(/^Reconnecting to .+: attempt 1 in \d+ ms$/);
    expect(await logger.next('warn', /^Reconnecting .*attempt 2/)).toMatch(/attempt 1 failed: .*ECONNREFUSED/);

    broker = await startBroker(port);
    expect(await logger.next('log', /^Reconnected/)).toMatch(/\(session present: no\)$/);
    expect(await logger.next('log', /^Resubscribed/)).toBe('Resubscribed to life/# (Granted QoS 1 (0x01))');

    await c.disconnect();
    expect(await logger.next('log', /closed/)).toBe(`Disconnected from mqtt://127.0.0.1:${port} (closed)`);
    expect(logger.lines.map((l) => l.message).join('\n')).not.toContain('hunter2');
    stop();
    const before = logger.lines.length;
    await c.connect({ clientId: 'lifecycle' });
    await c.disconnect();
    expect(logger.lines.length).toBe(before); // detached
  });

  it('logs "gave up" as an error when the reconnect policy stops', async () => {
    const port = await freePort();
    const broker = await startBroker(port);
    const logger = new RecordingLogger();
    const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { ...FAST, reconnect: () => false });
    cleanup.push(() => c.disconnect());
    logClientLifecycle(c, logger);
    await c.connect({ clientId: 'gives-up' });
    await broker.close();
    expect(await logger.next('error', /^Gave up/)).toMatch(new RegExp(`^Gave up reconnecting to mqtt://127\\.0\\.0\\.1:${port}: `));
  });
});

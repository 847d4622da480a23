/**
 * The well-behaved client of a fuzz run: an MqttClient on its own connection to the broker that keeps
 * publishing QoS 1 messages to itself and pinging, and records whether every round trip completed.
 * If the fuzzed connections disturb the broker, the canary sees it: a lost message, a disconnect, a
 * round trip past its deadline.
 */
import { MqttClient, TcpConnection, type MqttMessage } from '../../lib/client/index.js';

/** What the canary saw. */
export interface CanaryReport {
  roundTrips: number;
  failures: string[];
  disconnects: number;
  maxRoundTripMs: number;
}

/** A client publishing to itself every `intervalMs` until stopped. */
export class Canary {
  private readonly client: MqttClient;
  private readonly topic: string;
  private readonly report: CanaryReport = { roundTrips: 0, failures: [], disconnects: 0, maxRoundTripMs: 0 };
  private readonly waiting = new Map<string, { sent: number; timer: NodeJS.Timeout }>();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private stopped = false;
  private onIdle: (() => void) | undefined;

  constructor(
    port: number,
    private readonly intervalMs = 20,
    private readonly deadlineMs = 3000,
  ) {
    // No reconnect: a canary that loses its connection has already failed.
    this.client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    this.topic = `canary/${process.pid}/${Date.now().toString(36)}`;
    this.client.on('disconnected', (err) => {
      if (!this.stopped) {
        this.report.disconnects++;
        this.report.failures.push(`canary disconnected: ${err.message}`);
      }
    });
  }

  async start(): Promise<void> {
    await this.client.connect({ clientId: `canary-${process.pid}-${Date.now().toString(36)}`, keepAlive: 2, cleanStart: true });
    await this.client.subscribe({ subscriptions: [{ topicFilter: `${this.topic}/#`, qos: 1 }] }, (m) => this.onMessage(m));
    this.tick();
  }

  private onMessage(m: MqttMessage): void {
    const key = m.payload.toString();
    const w = this.waiting.get(key);
    if (w === undefined) return; // a fuzzed publish that happened to hit our topic
    clearTimeout(w.timer);
    this.waiting.delete(key);
    this.report.roundTrips++;
    this.report.maxRoundTripMs = Math.max(this.report.maxRoundTripMs, Date.now() - w.sent);
    this.settled();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    const key = `m${this.seq++}`;
    const sent = Date.now();
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.report.failures.push(`message ${key} did not come back within ${this.deadlineMs} ms`);
      this.settled();
    }, this.deadlineMs);
    this.waiting.set(key, { sent, timer });
    this.client.publish({ topic: `${this.topic}/${key}`, payload: key, qos: 1 }).catch((err: Error) => {
      if (!this.stopped) this.report.failures.push(`publish ${key} failed: ${err.message}`);
    });
    this.timer = setTimeout(this.tick, this.intervalMs);
  };

  /** Stops publishing, waits for the round trips in flight (each bounded by its deadline), disconnects. */
  async stop(): Promise<CanaryReport> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting.size !== 0) {
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
      });
    }
    this.stopped = true;
    await this.client.disconnect();
    return this.report;
  }

  /** Every waiting round trip either completes or hits its deadline timer, so this is always reached. */
  private settled(): void {
    if (this.waiting.size === 0 && this.onIdle !== undefined) {
      const idle = this.onIdle;
      this.onIdle = undefined;
      idle();
    }
  }
}

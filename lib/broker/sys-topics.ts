/**
 * `$SYS/broker/…` statistics topics, as Mosquitto publishes them (names and payload formats of its
 * src/sys_tree.c in 2.0, checked against a running `mosquitto -c … sys_interval 1`): retained, QoS 0,
 * every `sysInterval` seconds, a topic only when its value changed (and all of them the first time).
 *
 * Where the numbers mean something else than Mosquitto's: Mosquitto's `messages/received|sent` count
 * every MQTT packet and its `publish/messages/…` the PUBLISH packets; we count messages (PUBLISH) in both —
 * received: accepted from clients, wills and `MqttBroker.publish`; sent: deliveries to sessions (sent or
 * queued); dropped: not delivered (the `drop` event). `messages/dropped` (also asked for by name) is
 * `publish/messages/dropped`. `clients/total` is every session (connected or not), as Mosquitto's
 * connected + disconnected. Bytes are counted per socket read and write (MQTT bytes; WebSocket framing
 * not included). Topics of Mosquitto we do not publish: heap, store, `load/connections|sockets|publish`.
 *
 * One timer per broker, unref'd (it never keeps a process alive), stopped by close(). While it runs,
 * clients may not publish to `$SYS` (PUBACK 0x87, as Mosquitto answers); with `sysInterval` 0 the
 * `$SYS` topics are the application's.
 */
import { packageVersion } from './version.js';

/** Bytes read from and written to client sockets since the broker started. */
export class Traffic {
  bytesReceived = 0;
  bytesSent = 0;
}

/** Whether a topic name is in the broker's `$SYS` tree (clients may not publish there). */
export function isSysTopic(topic: string): boolean {
  return topic.startsWith('$SYS/') || topic === '$SYS';
}

/** The counters `$SYS` reports (a subset of BrokerMetrics, declared here to keep core.ts out of this file's imports). */
export interface SysMetrics {
  readonly clients: number;
  readonly sessions: number;
  readonly subscriptions: number;
  readonly retainedMessages: number;
  readonly messagesReceived: number;
  readonly messagesRouted: number;
  readonly droppedMessages: number;
}

/** What the `$SYS` publisher reads and where it publishes. */
export interface SysSource {
  metrics(): SysMetrics;
  readonly traffic: Traffic;
  /** Stores a retained message and routes it to subscribers (not counted as a message received). */
  publishSys(topic: string, payload: string): void;
}

/** Mosquitto's moving averages: per-minute rates over 1, 5 and 15 minutes. */
const LOAD_WINDOWS: ReadonlyArray<readonly [string, number]> = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
];

/** One rate of `load/…`: the last counter value and the three averages. */
class Load {
  last = 0;
  readonly averages = [0, 0, 0];
  constructor(readonly topic: string) {}
}

/** Publishes the `$SYS` topics of one broker every `intervalSeconds` (> 0). */
export class SysTopics {
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private lastUpdate = this.startedAt;
  /** Last payload per topic: unchanged values are not published again. */
  private readonly published = new Map<string, string>();
  private readonly loads = [new Load('$SYS/broker/load/bytes/received'), new Load('$SYS/broker/load/bytes/sent')];
  private maxClients = 0;

  constructor(
    private readonly source: SysSource,
    intervalSeconds: number,
  ) {
    this.set('$SYS/broker/version', `nest-mqtt5 version ${packageVersion()}`);
    this.update();
    this.timer = setInterval(() => this.update(), intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Stops publishing (close()). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Publishes every value that changed since the last update. */
  update(): void {
    const now = Date.now();
    const m = this.source.metrics();
    const t = this.source.traffic;
    if (m.clients > this.maxClients) this.maxClients = m.clients;
    const b = '$SYS/broker/';
    this.set(`${b}uptime`, `${Math.floor((now - this.startedAt) / 1000)} seconds`);
    this.set(`${b}clients/connected`, String(m.clients));
    this.set(`${b}clients/disconnected`, String(m.sessions - m.clients));
    this.set(`${b}clients/total`, String(m.sessions));
    this.set(`${b}clients/maximum`, String(this.maxClients));
    this.set(`${b}messages/received`, String(m.messagesReceived));
    this.set(`${b}messages/sent`, String(m.messagesRouted));
    this.set(`${b}messages/dropped`, String(m.droppedMessages));
    this.set(`${b}publish/messages/received`, String(m.messagesReceived));
    this.set(`${b}publish/messages/sent`, String(m.messagesRouted));
    this.set(`${b}publish/messages/dropped`, String(m.droppedMessages));
    this.set(`${b}subscriptions/count`, String(m.subscriptions));
    this.set(`${b}retained messages/count`, String(m.retainedMessages));
    this.set(`${b}bytes/received`, String(t.bytesReceived));
    this.set(`${b}bytes/sent`, String(t.bytesSent));
    this.updateLoad(this.loads[0]!, t.bytesReceived, now);
    this.updateLoad(this.loads[1]!, t.bytesSent, now);
    this.lastUpdate = now;
  }

  /**
   * Mosquitto's calc_load: the rate since the last update, per minute, folded into an exponential
   * average per window (`new = rate + e^(-Δt/window)·(old − rate)`), printed with two decimals.
   */
  private updateLoad(load: Load, counter: number, now: number): void {
    const seconds = (now - this.lastUpdate) / 1000;
    if (seconds > 0) {
      const rate = ((counter - load.last) * 60) / seconds;
      for (let i = 0; i < LOAD_WINDOWS.length; i++) {
        const e = Math.exp(-seconds / LOAD_WINDOWS[i]![1]);
        load.averages[i] = rate + e * (load.averages[i]! - rate);
      }
    }
    load.last = counter;
    for (let i = 0; i < LOAD_WINDOWS.length; i++) this.set(`${load.topic}/${LOAD_WINDOWS[i]![0]}`, load.averages[i]!.toFixed(2));
  }

  private set(topic: string, payload: string): void {
    if (this.published.get(topic) === payload) return;
    this.published.set(topic, payload);
    this.source.publishSys(topic, payload);
  }
}

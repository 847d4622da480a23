/**
 * The durable {@link BrokerStore}: one LMDB environment (lib/store) in the broker's data dir, one table
 * per record kind. Keys: sessions and retained by client id / topic; subscriptions, outbound messages
 * and inbound ids by `[clientId, filter | seq | packetId]`, so a session's records are one key range.
 */
import { STRUCTURES_KEY, StoreEngine, type SyncMode } from '../../store/index.js';
import type { BrokerStore, BrokerStoreLoader, BrokerStoreLoadStats } from './broker-store.js';
import type { StoredMessage, StoredOutbound, StoredSession, StoredSubscription } from './records.js';

/** Format of the broker store's records; bump with a migration when the layout changes. */
export const BROKER_STORE_VERSION = 1;

/** Options of {@link DurableBrokerStore.open}. */
export interface DurableBrokerStoreOptions {
  /** Data directory (created when missing). */
  readonly dir: string;
  /** `always` (default): a commit resolves once fsynced; `periodic`: once written, fsynced every second. */
  readonly sync?: SyncMode;
  /** With `periodic`: fsync interval, default 1000 ms. */
  readonly flushIntervalMs?: number;
}

const TABLES = ['sessions', 'subscriptions', 'outbound', 'inbound', 'retained'] as const;

/** `m` with its payload as a Buffer (msgpack decodes binary data as a Uint8Array): a view, no copy. */
function withBufferPayload(m: StoredMessage): StoredMessage & { readonly payload: Buffer } {
  const p = m.payload;
  if (Buffer.isBuffer(p)) return m as StoredMessage & { readonly payload: Buffer };
  return { ...m, payload: Buffer.from(p.buffer, p.byteOffset, p.byteLength) };
}

/** A {@link BrokerStore} on disk. */
export class DurableBrokerStore implements BrokerStore {
  readonly durable = true;
  private readonly sessions;
  private readonly subscriptions;
  private readonly outbound;
  private readonly inbound;
  private readonly retainedTable;

  private constructor(private readonly engine: StoreEngine) {
    this.sessions = engine.table('sessions');
    this.subscriptions = engine.table('subscriptions');
    this.outbound = engine.table('outbound');
    this.inbound = engine.table('inbound');
    this.retainedTable = engine.table('retained');
  }

  /**
   * Opens or creates the store. Throws a `StoreOpenError` (directory not usable), `StoreCorruptError`
   * (damaged files) or `StoreVersionError` (format from a newer version) naming the path: the broker
   * must refuse to start rather than start empty.
   */
  static open(options: DurableBrokerStoreOptions): DurableBrokerStore {
    return new DurableBrokerStore(
      StoreEngine.open({
        dir: options.dir,
        kind: 'broker',
        version: BROKER_STORE_VERSION,
        tables: TABLES,
        ...(options.sync !== undefined ? { sync: options.sync } : {}),
        ...(options.flushIntervalMs !== undefined ? { flushIntervalMs: options.flushIntervalMs } : {}),
      }),
    );
  }

  /** The data file (for messages and backups). */
  get file(): string {
    return this.engine.file;
  }

  /** Mutations staged for the next commit. */
  get staged(): number {
    return this.engine.staged;
  }

  putSession(session: StoredSession): void {
    this.engine.put(this.sessions, session.clientId, session);
  }
  deleteSession(clientId: string): void {
    const e = this.engine;
    e.remove(this.sessions, clientId);
    e.removePrefix(this.subscriptions, clientId);
    e.removePrefix(this.outbound, clientId);
    e.removePrefix(this.inbound, clientId);
  }
  putSubscription(subscription: StoredSubscription): void {
    this.engine.put(this.subscriptions, [subscription.clientId, subscription.filter], subscription);
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.engine.remove(this.subscriptions, [clientId, filter]);
  }
  putOutbound(message: StoredOutbound): number {
    return this.engine.put(this.outbound, [message.clientId, message.seq], message);
  }
  deleteOutbound(clientId: string, seq: number): void {
    this.engine.remove(this.outbound, [clientId, seq]);
  }
  putInbound(clientId: string, packetId: number): void {
    this.engine.put(this.inbound, [clientId, packetId], 1);
  }
  deleteInbound(clientId: string, packetId: number): void {
    this.engine.remove(this.inbound, [clientId, packetId]);
  }
  putRetained(message: StoredMessage): void {
    this.engine.put(this.retainedTable, message.topic, message);
  }
  deleteRetained(topic: string): void {
    this.engine.remove(this.retainedTable, topic);
  }

  commit(): Promise<void> {
    return this.engine.commit();
  }

  commitWithin(ms: number): Promise<void> {
    return this.engine.commitWithin(ms);
  }

  get stagingGroup(): number {
    return this.engine.stagingGroup;
  }

  cancel(group: number, index: number): boolean {
    return this.engine.cancel(group, index);
  }

  /** The committed retained message of `topic`. */
  getRetained(topic: string): (StoredMessage & { readonly payload: Buffer }) | undefined {
    const m = this.retainedTable.get(topic) as StoredMessage | undefined;
    return m === undefined ? undefined : withBufferPayload(m);
  }

  /** Whether a retained message of `topic` is committed. */
  hasRetained(topic: string): boolean {
    return this.retainedTable.doesExist(topic);
  }

  /** Number of committed retained messages (from the table's statistics: no scan). */
  retainedCount(): number {
    const entries = (this.retainedTable.getStats() as { entryCount: number }).entryCount;
    // The table also holds its msgpack structures record (a symbol key that ranges skip).
    return this.retainedTable.doesExist(STRUCTURES_KEY) ? entries - 1 : entries;
  }

  /** The committed retained messages whose topic starts with `prefix`, in key order. */
  *retainedFrom(prefix: string): Generator<StoredMessage & { readonly payload: Buffer }> {
    for (const { key, value } of this.retainedTable.getRange(prefix === '' ? {} : { start: prefix })) {
      if (!(key as string).startsWith(prefix)) return;
      yield withBufferPayload(value as StoredMessage);
    }
  }

  load(loader: BrokerStoreLoader): BrokerStoreLoadStats {
    let sessions = 0;
    let subscriptions = 0;
    let outbound = 0;
    let inbound = 0;
    let retained = 0;
    for (const { value } of this.sessions.getRange()) {
      loader.session(value as StoredSession);
      sessions++;
    }
    for (const { value } of this.subscriptions.getRange()) {
      loader.subscription(value as StoredSubscription);
      subscriptions++;
    }
    for (const { value } of this.outbound.getRange()) {
      loader.outbound(value as StoredOutbound);
      outbound++;
    }
    for (const { key } of this.inbound.getRange()) {
      const [clientId, packetId] = key as [string, number];
      loader.inbound({ clientId, packetId });
      inbound++;
    }
    if (loader.retained === undefined) retained = this.retainedCount();
    else {
      for (const { value } of this.retainedTable.getRange()) {
        loader.retained(value as StoredMessage);
        retained++;
      }
    }
    return { sessions, subscriptions, outbound, inbound, retained };
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

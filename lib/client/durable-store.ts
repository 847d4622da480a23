/**
 * A file-backed {@link SessionStore} (issue 14 item 4): a process restarted with the same directory
 * and client id re-sends the QoS 1/2 publishes it had accepted and not completed, and remembers the
 * inbound QoS 2 ids awaiting PUBREL (so a re-sent PUBLISH is not delivered twice).
 *
 * The `SessionStore` API is synchronous, and `publish()` calls it before it returns, so every change
 * is written in its own synchronous transaction before the call returns: once `publish()` has returned,
 * a crash of the process (kill -9) cannot lose the message. `sync` decides the machine-crash guarantee:
 * `always` fsyncs each transaction (the caller waits for the disk), `periodic` (default) fsyncs every
 * second. Memory holds a mirror of the records for the synchronous reads.
 *
 * Records (table `out`, key = a sequence number in first-insertion order): `{ packet, state }` for a
 * queued or in-flight QoS 1/2 message. Table `in`: inbound QoS 2 packet ids. QoS 0 is never stored.
 */
import type { PublishPacket } from '../codec/index.js';
import { StoreEngine, StoreOpenError, type SyncMode } from '../store/index.js';
import { MemorySessionStore, type OutgoingMessage, type OutgoingState, type SessionStore } from './session.js';

/** Format of the client store's records. */
export const CLIENT_STORE_VERSION = 1;

/** Options of {@link DurableSessionStore.open}. */
export interface DurableSessionStoreOptions {
  /** Directory of the store (one per client id); created when missing. */
  readonly dir: string;
  /**
   * The client id the session belongs to: recorded on first use and checked afterwards, so a
   * directory is never replayed under another client id.
   */
  readonly clientId?: string;
  /** `periodic` (default): fsync every second; `always`: fsync every change before returning. */
  readonly sync?: SyncMode;
}

/** What is stored per outgoing message. */
interface OutRecord {
  readonly packet: PublishPacket;
  readonly state: OutgoingState;
}

/** A {@link SessionStore} on disk; see the file comment. Call {@link DurableSessionStore.close} after the client is closed. */
export class DurableSessionStore implements SessionStore {
  private readonly mem = new MemorySessionStore();
  private readonly engine: StoreEngine;
  private readonly out;
  private readonly incomingTable;
  /** Sequence number (record key) of each stored message. */
  private readonly seqOf = new Map<OutgoingMessage, number>();
  private nextSeq = 1;
  /** Messages shifted off the pending queue and not (yet) put in flight; deleted at the end of the turn. */
  private readonly shifted = new Set<OutgoingMessage>();
  private sweepScheduled = false;
  private readonly sweep = (): void => this.deleteShifted();
  /** The messages found at open (queued and in flight), in their original order: what a restart will send. */
  readonly restored: readonly OutgoingMessage[];

  private constructor(engine: StoreEngine, clientId: string | undefined) {
    this.engine = engine;
    this.out = engine.table('out');
    this.incomingTable = engine.table('in');
    const meta = engine.table('meta');
    const stored = meta.get('clientId') as string | undefined;
    if (clientId !== undefined) {
      if (stored === undefined) engine.writeSync(() => meta.putSync('clientId', clientId));
      else if (stored !== clientId) {
        throw new StoreOpenError(engine.dir, `session store belongs to client id "${stored}", not "${clientId}"`);
      }
    }
    this.restored = this.restore();
  }

  /**
   * Opens (or creates) the store and loads its messages: queued ones back into the pending queue,
   * in-flight ones (with their packet id and state) for re-sending after the next CONNACK. Throws the
   * storage layer's typed errors (`StoreOpenError`, `StoreCorruptError`, `StoreVersionError`).
   */
  static open(options: DurableSessionStoreOptions): DurableSessionStore {
    const engine = StoreEngine.open({
      dir: options.dir,
      kind: 'client-session',
      version: CLIENT_STORE_VERSION,
      tables: ['out', 'in'],
      sync: options.sync ?? 'periodic',
    });
    try {
      return new DurableSessionStore(engine, options.clientId);
    } catch (error) {
      void engine.close();
      throw error;
    }
  }

  private restore(): OutgoingMessage[] {
    const restored: OutgoingMessage[] = [];
    for (const { key, value } of this.out.getRange()) {
      const seq = key as number;
      const rec = value as OutRecord;
      const msg: OutgoingMessage = { packet: { ...rec.packet, payload: Buffer.from(rec.packet.payload) }, state: rec.state, sent: false };
      this.seqOf.set(msg, seq);
      if (seq >= this.nextSeq) this.nextSeq = seq + 1;
      if (rec.state === 'queued') this.mem.pushPending(msg);
      else this.mem.setInflight(msg);
      restored.push(msg);
    }
    for (const { key } of this.incomingTable.getRange()) this.mem.addIncoming(key as number);
    return restored;
  }

  /** Writes `msg`'s record under its sequence number (assigning one on first write). */
  private write(msg: OutgoingMessage): void {
    if (msg.packet.qos === 0) return;
    let seq = this.seqOf.get(msg);
    if (seq === undefined) {
      seq = this.nextSeq++;
      this.seqOf.set(msg, seq);
    }
    const rec: OutRecord = { packet: msg.packet, state: msg.state };
    const key = seq;
    this.engine.writeSync(() => this.out.putSync(key, rec));
  }

  private forget(msg: OutgoingMessage): void {
    const seq = this.seqOf.get(msg);
    if (seq === undefined) return;
    this.seqOf.delete(msg);
    this.engine.writeSync(() => this.out.removeSync(seq));
  }

  private deleteShifted(): void {
    this.sweepScheduled = false;
    if (this.shifted.size === 0) return;
    const seqs: number[] = [];
    for (const msg of this.shifted) {
      const seq = this.seqOf.get(msg);
      if (seq !== undefined) {
        seqs.push(seq);
        this.seqOf.delete(msg);
      }
    }
    this.shifted.clear();
    if (seqs.length > 0) this.engine.writeSync(() => seqs.forEach((s) => this.out.removeSync(s)));
  }

  setInflight(msg: OutgoingMessage): void {
    this.shifted.delete(msg);
    this.write(msg);
    this.mem.setInflight(msg);
  }
  getInflight(packetId: number): OutgoingMessage | undefined {
    return this.mem.getInflight(packetId);
  }
  deleteInflight(packetId: number): boolean {
    const msg = this.mem.getInflight(packetId);
    if (msg === undefined) return false;
    this.forget(msg);
    return this.mem.deleteInflight(packetId);
  }
  inflight(): IterableIterator<OutgoingMessage> {
    return this.mem.inflight();
  }
  get inflightCount(): number {
    return this.mem.inflightCount;
  }

  pushPending(msg: OutgoingMessage): void {
    this.write(msg);
    this.mem.pushPending(msg);
  }
  peekPending(): OutgoingMessage | undefined {
    return this.mem.peekPending();
  }
  /**
   * The client shifts a message either to send it (setInflight follows in the same turn and rewrites
   * its record with the packet id) or to reject it; the record stays until the end of the turn so that
   * a crash in between re-sends rather than loses it.
   */
  shiftPending(): OutgoingMessage | undefined {
    const msg = this.mem.shiftPending();
    if (msg !== undefined && this.seqOf.has(msg)) {
      this.shifted.add(msg);
      if (!this.sweepScheduled) {
        this.sweepScheduled = true;
        queueMicrotask(this.sweep);
      }
    }
    return msg;
  }
  get pendingCount(): number {
    return this.mem.pendingCount;
  }

  addIncoming(packetId: number): void {
    this.engine.writeSync(() => this.incomingTable.putSync(packetId, 1));
    this.mem.addIncoming(packetId);
  }
  hasIncoming(packetId: number): boolean {
    return this.mem.hasIncoming(packetId);
  }
  deleteIncoming(packetId: number): boolean {
    if (!this.mem.hasIncoming(packetId)) return false;
    this.engine.writeSync(() => this.incomingTable.removeSync(packetId));
    return this.mem.deleteIncoming(packetId);
  }
  get incomingCount(): number {
    return this.mem.incomingCount;
  }
  clearIncoming(): void {
    if (this.mem.incomingCount === 0) return;
    this.engine.writeSync(() => {
      for (const key of this.incomingTable.getKeys()) this.incomingTable.removeSync(key);
    });
    this.mem.clearIncoming();
  }

  clear(): void {
    this.engine.writeSync(() => {
      for (const key of this.out.getKeys()) this.out.removeSync(key);
      for (const key of this.incomingTable.getKeys()) this.incomingTable.removeSync(key);
    });
    this.seqOf.clear();
    this.shifted.clear();
    this.mem.clear();
  }

  /** Writes what is pending, flushes and closes the files. */
  close(): Promise<void> {
    this.deleteShifted();
    return this.engine.close();
  }
}

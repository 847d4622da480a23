/**
 * The default {@link BrokerStore}: the broker's live state in memory is the only copy, so there is
 * nothing to mirror. Every mutation is a no-op and every commit is already durable in the only sense
 * available without a data dir (for the life of the process); `durable` is false so the broker can skip
 * building records altogether. Embedding without a data dir stays as fast as before persistence.
 */
import type { BrokerStore, BrokerStoreLoader, BrokerStoreLoadStats } from './broker-store.js';

const DONE = Promise.resolve();
const EMPTY: BrokerStoreLoadStats = Object.freeze({ sessions: 0, subscriptions: 0, outbound: 0, inbound: 0, retained: 0 });

/** A {@link BrokerStore} that keeps nothing beyond the broker's memory. */
export class MemoryBrokerStore implements BrokerStore {
  readonly durable = false;
  putSession(): void {}
  deleteSession(): void {}
  putSubscription(): void {}
  deleteSubscription(): void {}
  putOutbound(): number {
    return -1;
  }
  deleteOutbound(): void {}
  putInbound(): void {}
  deleteInbound(): void {}
  putRetained(): void {}
  deleteRetained(): void {}
  commit(): Promise<void> {
    return DONE;
  }
  commitWithin(): Promise<void> {
    return DONE;
  }
  readonly stagingGroup = 0;
  cancel(): boolean {
    return false;
  }
  load(_loader: BrokerStoreLoader): BrokerStoreLoadStats {
    return EMPTY;
  }
  close(): Promise<void> {
    return DONE;
  }
}

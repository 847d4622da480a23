/** Broker persistence: the {@link BrokerStore} interface, its records, and its two implementations. */
export type { BrokerStore, BrokerStoreLoader, BrokerStoreLoadStats } from './broker-store.js';
export type {
  OutboundState,
  StoredInbound,
  StoredMessage,
  StoredOutbound,
  StoredSession,
  StoredSubscription,
  StoredWill,
} from './records.js';
export { MemoryBrokerStore } from './memory-store.js';
export { BROKER_STORE_VERSION, DurableBrokerStore, type DurableBrokerStoreOptions } from './durable-store.js';

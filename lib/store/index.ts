/**
 * nest-mqtt5 storage layer (internal, below client and broker): the embedded store engine both the
 * broker's `BrokerStore` and the client's `DurableSessionStore` are built on, and its typed errors.
 * Imports nothing from the other layers.
 */
export { STRUCTURES_KEY, StoreEngine, type StoreEngineOptions, type SyncMode } from './engine.js';
export {
  StoreClosedError,
  StoreCorruptError,
  StoreError,
  StoreFullError,
  StoreOpenError,
  StoreVersionError,
  StoreWriteError,
  type StoreErrorCode,
} from './errors.js';

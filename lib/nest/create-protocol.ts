/** Chooses a transport end's wire protocol once, from its `compat` option. */
import { CompatProtocol } from './compat-protocol.js';
import type { WireProtocol } from './framing.js';
import { NativeProtocol, type ProtocolSettings } from './native-protocol.js';

/** Nest's built-in envelope when `compat` is set, the native v5 convention otherwise. */
export function createWireProtocol(compat: boolean, settings: ProtocolSettings): WireProtocol {
  return compat ? new CompatProtocol(settings) : new NativeProtocol(settings);
}

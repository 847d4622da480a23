/** Errors raised by the broker (protocol violations by clients use the codec's MqttProtocolError). */
import { ErrorCode, MqttProtocolError, type MqttErrorDetails } from '../codec/index.js';

/** A hook (authenticate, authorizePublish, authorizeSubscribe) threw or rejected; the client got `reasonCode`. */
export class HookError extends MqttProtocolError {
  override readonly name = 'HookError';
  /** `HOOK_FAILED`; `reasonCode` is what the client was told. */
  override readonly code: string = ErrorCode.HOOK_FAILED;
  constructor(
    /** Which hook failed. */
    readonly hook: 'authenticate' | 'authorizePublish' | 'authorizeSubscribe',
    reasonCode: number,
    /** What the hook threw. */
    override readonly cause: unknown,
  ) {
    super(reasonCode, `${hook} hook failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** The broker is closed (or closing) and cannot listen again. */
export class BrokerClosedError extends Error implements MqttErrorDetails {
  override readonly name = 'BrokerClosedError';
  readonly code: string = ErrorCode.CLOSED;
  constructor() {
    super('the broker is closed');
  }
}

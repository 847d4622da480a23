/**
 * Reconnect policy and connection-event printing shared by the long-running client commands
 * (`connect`, `sub`).
 */
import { ClientClosedError, ConnackError, DisconnectedError, type MqttClient, type MqttClientError } from '../client/index.js';
import { ReasonCode } from '../codec/index.js';
import { formatDisconnected, formatReconnected, formatReconnecting, formatResubscribed } from './format.js';

/**
 * CONNACK refusals that another attempt cannot fix: retrying would only hammer the broker with
 * the same rejected credentials or identifier.
 */
const PERMANENT_REFUSALS: ReadonlySet<number> = new Set([
  ReasonCode.UnsupportedProtocolVersion,
  ReasonCode.ClientIdentifierNotValid,
  ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized,
  ReasonCode.Banned,
  ReasonCode.BadAuthenticationMethod,
]);

/**
 * Decides whether to reconnect after a loss and reports when the client gives up. Besides
 * `--no-reconnect`, it stops after DISCONNECT 0x8E (Session taken over: another client now uses
 * our client id, and reconnecting would take it back, forever) and after permanent CONNACK refusals.
 */
export class ReconnectPolicy {
  /** Resolves with the error that ended the connection for good. */
  readonly gaveUp: Promise<MqttClientError>;
  private resolveGaveUp!: (error: MqttClientError) => void;
  private finalError: MqttClientError | undefined;

  constructor(private readonly enabled: boolean) {
    this.gaveUp = new Promise<MqttClientError>((resolve) => {
      this.resolveGaveUp = resolve;
    });
  }

  /** The error that made the client give up, once it did (known synchronously, unlike {@link gaveUp}). */
  get error(): MqttClientError | undefined {
    return this.finalError;
  }

  /** The `reconnect` option of MqttClient. */
  readonly decide = (error: MqttClientError): boolean => {
    const again = this.enabled && !isFinal(error);
    if (!again) {
      this.finalError = error;
      this.resolveGaveUp(error);
    }
    return again;
  };
}

function isFinal(error: MqttClientError): boolean {
  if (error instanceof DisconnectedError) return error.reasonCode === ReasonCode.SessionTakenOver;
  return error instanceof ConnackError && PERMANENT_REFUSALS.has(error.reasonCode);
}

/**
 * Prints disconnected / reconnecting / reconnected / resubscribed events through `print`.
 * With `includeOwnDisconnect` false, the end of the connection by our own `disconnect()` is not printed.
 */
export function printConnectionEvents(client: MqttClient, print: (line: string) => void, includeOwnDisconnect = true): void {
  let connected = false;
  client.on('connected', () => {
    connected = true;
  });
  client.on('disconnected', (reason) => {
    if (includeOwnDisconnect || !(reason instanceof ClientClosedError)) print(formatDisconnected(reason, connected));
    connected = false;
  });
  client.on('reconnecting', (info) => print(formatReconnecting(info)));
  client.on('reconnected', (info) => print(formatReconnected(info)));
  client.on('resubscribed', (result) => print(formatResubscribed(result)));
}

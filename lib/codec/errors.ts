import type { MqttErrorDetails } from './error-codes.js';
import { reasonCodeKey, reasonCodeName } from './reason-codes.js';

/**
 * A violation of the MQTT v5 protocol, found while decoding, encoding or processing a packet.
 * `reasonCode` is the v5 reason code the peer should receive (e.g. in a DISCONNECT or an ack):
 * 0x81 malformed packet, 0x82 protocol error, 0x95 packet too large, …
 */
export class MqttProtocolError extends Error implements MqttErrorDetails {
  // `string`, not the literal, so that subclasses (e.g. a broker's hook error) can name themselves.
  override readonly name: string = 'MqttProtocolError';
  /** The reason code's key, e.g. `MALFORMED_PACKET`, `PROTOCOL_ERROR`, `PACKET_TOO_LARGE`. */
  readonly code: string;
  /** The spec name of `reasonCode`. */
  readonly reasonName: string;
  constructor(
    /** The MQTT v5 reason code that describes the failure. */
    readonly reasonCode: number,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? reasonCodeName(reasonCode), options);
    this.code = reasonCodeKey(reasonCode);
    this.reasonName = reasonCodeName(reasonCode);
  }
}

/** Shorthand for a malformed-packet error (reason code 0x81). */
export function malformed(message: string): MqttProtocolError {
  return new MqttProtocolError(0x81, message);
}

/** Shorthand for a protocol error (reason code 0x82). */
export function protocolError(message: string): MqttProtocolError {
  return new MqttProtocolError(0x82, message);
}

/**
 * A CONNECT for a protocol other than MQTT 5 (reason code 0x84, Unsupported Protocol Version). Carries
 * what the client asked for, so that a server can answer in a format that client understands (an MQTT
 * 3.1.1 client expects a 3.1.1 CONNACK with return code 0x01).
 */
export class UnsupportedProtocolError extends MqttProtocolError {
  override readonly name: string = 'UnsupportedProtocolError';
  constructor(
    /** The protocol name of the CONNECT (its first 16 bytes): 'MQTT' for 3.1.1 and 5, 'MQIsdp' for 3.1. */
    readonly protocolName: string,
    /** The protocol level of the CONNECT: 3 for MQTT 3.1, 4 for 3.1.1, 5 for 5. */
    readonly protocolVersion: number,
  ) {
    super(0x84, `unsupported protocol ${JSON.stringify(protocolName)} level ${protocolVersion}; only MQTT 5 is spoken`);
  }
}

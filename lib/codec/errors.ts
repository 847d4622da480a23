import { reasonCodeName } from './reason-codes.js';

/**
 * A violation of the MQTT v5 protocol, found while decoding, encoding or processing a packet.
 * `reasonCode` is the v5 reason code the peer should receive (e.g. in a DISCONNECT or an ack):
 * 0x81 malformed packet, 0x82 protocol error, 0x95 packet too large, …
 */
export class MqttProtocolError extends Error {
  override readonly name = 'MqttProtocolError';
  constructor(
    /** The MQTT v5 reason code that describes the failure. */
    readonly reasonCode: number,
    message?: string,
  ) {
    super(message ?? reasonCodeName(reasonCode));
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

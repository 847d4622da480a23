/**
 * MQTT 3.1.1 / 3.1 return codes, and the mapping from the v5 reason codes (reason-codes.ts, the one table
 * the rest of the stack speaks) to them. A broker decides in v5 terms and translates at the wire: a 3.1.1
 * CONNACK carries one of six return codes (spec 3.1.1 §3.2.2.3), a SUBACK 0x00–0x02 or 0x80 (§3.9.3), and
 * no other packet carries a code at all.
 */
import { ReasonCode } from './reason-codes.js';

/** The CONNACK return codes of MQTT 3.1.1 (and 3.1), by name. */
export const ConnackReturnCode = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  IdentifierRejected: 0x02,
  ServerUnavailable: 0x03,
  BadUserNameOrPassword: 0x04,
  NotAuthorized: 0x05,
} as const;

/** The one table of 3.1.1 CONNACK return codes: value, name, and the v5 reason codes that map to it. */
export const CONNACK_RETURN_CODES: ReadonlyArray<{ code: number; name: string; fromReasonCodes: readonly number[] }> = [
  { code: 0x00, name: 'Connection Accepted', fromReasonCodes: [ReasonCode.Success] },
  { code: 0x01, name: 'Connection Refused, unacceptable protocol version', fromReasonCodes: [ReasonCode.UnsupportedProtocolVersion] },
  { code: 0x02, name: 'Connection Refused, identifier rejected', fromReasonCodes: [ReasonCode.ClientIdentifierNotValid] },
  // Every other refusal means "not now, not here": Mosquitto answers 3.1.1 clients 0x03 where it would
  // tell a v5 client it is busy, unavailable or using another server.
  {
    code: 0x03,
    name: 'Connection Refused, Server unavailable',
    fromReasonCodes: [
      ReasonCode.UnspecifiedError,
      ReasonCode.ImplementationSpecificError,
      ReasonCode.ServerUnavailable,
      ReasonCode.ServerBusy,
      ReasonCode.Banned,
      ReasonCode.QuotaExceeded,
      ReasonCode.UseAnotherServer,
      ReasonCode.ServerMoved,
      ReasonCode.ConnectionRateExceeded,
    ],
  },
  { code: 0x04, name: 'Connection Refused, bad user name or password', fromReasonCodes: [ReasonCode.BadUserNameOrPassword, ReasonCode.BadAuthenticationMethod] },
  { code: 0x05, name: 'Connection Refused, not authorized', fromReasonCodes: [ReasonCode.NotAuthorized] },
];

const toReturnCode = new Uint8Array(256).fill(ConnackReturnCode.ServerUnavailable);
for (const row of CONNACK_RETURN_CODES) for (const rc of row.fromReasonCodes) toReturnCode[rc] = row.code;

/**
 * The 3.1.1 CONNACK return code for a v5 CONNACK reason code: 0x00 → 0x00, 0x84 → 0x01, 0x85 → 0x02,
 * 0x86/0x8C → 0x04, 0x87 → 0x05, any other refusal → 0x03 (Server unavailable). A value 0x01–0x05 is
 * already a 3.1.1 return code (no v5 CONNACK code lies there) and is returned as is.
 */
export function connackReturnCodeFor(reasonCode: number): number {
  if (reasonCode >= 0 && reasonCode <= 0x05) return reasonCode;
  return toReturnCode[reasonCode & 0xff]!;
}

/** Name of a 3.1.1 CONNACK return code, e.g. `Connection Refused, not authorized` for 0x05. */
export function connackReturnCodeName(code: number): string {
  return CONNACK_RETURN_CODES[code]?.name ?? `Reserved return code 0x${code.toString(16).padStart(2, '0')}`;
}

/** The 3.1.1 SUBACK return code for a v5 SUBACK reason code: a granted QoS 0–2 stays, every refusal is 0x80. */
export function subackReturnCodeFor(reasonCode: number): number {
  return reasonCode >= 0 && reasonCode <= 2 ? reasonCode : 0x80;
}

/** Whether `code` may appear in a 3.1.1 SUBACK (0x00, 0x01, 0x02, 0x80). */
export function isSubackReturnCode(code: number): boolean {
  return code === 0 || code === 1 || code === 2 || code === 0x80;
}

import { describe, it, expect } from '@jest/globals';
import { ReasonCode, reasonCodeName, isReasonCodeAllowed, isErrorReasonCode, REASON_CODES } from '../../../lib/codec/reason-codes.js';
import { PacketType } from '../../../lib/codec/packets.js';
import { MqttProtocolError } from '../../../lib/codec/errors.js';

describe('reason codes table', () => {
  it('names every code in the table and each name maps to a ReasonCode value', () => {
    const values = new Set<number>(Object.values(ReasonCode));
    for (const r of REASON_CODES) expect(values.has(r.code)).toBe(true);
    expect(reasonCodeName(0x95)).toBe('Packet too large');
    expect(reasonCodeName(0x42)).toMatch(/Unknown reason code 0x42/);
  });

  it('knows which packets may carry which codes (spec table 2-6)', () => {
    expect(isReasonCodeAllowed(PacketType.SUBACK, ReasonCode.GrantedQoS2)).toBe(true);
    expect(isReasonCodeAllowed(PacketType.PUBACK, ReasonCode.GrantedQoS2)).toBe(false);
    expect(isReasonCodeAllowed(PacketType.DISCONNECT, ReasonCode.DisconnectWithWillMessage)).toBe(true);
    expect(isReasonCodeAllowed(PacketType.CONNACK, ReasonCode.SessionTakenOver)).toBe(false);
    expect(isReasonCodeAllowed(PacketType.PUBREL, ReasonCode.PacketIdentifierNotFound)).toBe(true);
    expect(isReasonCodeAllowed(PacketType.AUTH, ReasonCode.ContinueAuthentication)).toBe(true);
    expect(isReasonCodeAllowed(PacketType.PUBLISH, 0)).toBe(false);
    expect(isReasonCodeAllowed(PacketType.PUBACK, 999)).toBe(false);
    expect(isReasonCodeAllowed(99, 0)).toBe(false);
    expect(isReasonCodeAllowed(PacketType.PUBACK, 1.5)).toBe(false);
  });

  it('classifies failures from 0x80', () => {
    expect(isErrorReasonCode(0x10)).toBe(false);
    expect(isErrorReasonCode(0x80)).toBe(true);
  });

  it('MqttProtocolError carries the reason code and a readable message', () => {
    const e = new MqttProtocolError(ReasonCode.MalformedPacket);
    expect(e).toBeInstanceOf(Error);
    expect(e.reasonCode).toBe(0x81);
    expect(e.message).toBe('Malformed Packet');
    expect(e.name).toBe('MqttProtocolError');
  });
});

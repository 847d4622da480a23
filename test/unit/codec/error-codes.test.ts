import { describe, expect, it } from '@jest/globals';
import {
  ErrorCode,
  MqttProtocolError,
  REASON_CODES,
  UnsupportedProtocolError,
  malformed,
  protocolError,
  reasonCodeKey,
  reasonCodeName,
} from '../../../lib/codec/index.js';

describe('reason-code keys (the one table)', () => {
  it('every row has a unique SCREAMING_SNAKE key', () => {
    const keys = REASON_CODES.map((r) => r.key);
    for (const k of keys) expect(k).toMatch(/^[A-Z][A-Z0-9_]*$/);
    // 0x00 is one row (Success / Normal disconnection / Granted QoS 0 share it).
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each([
    [0x87, 'NOT_AUTHORIZED', 'Not authorized'],
    [0x95, 'PACKET_TOO_LARGE', 'Packet too large'],
    [0x97, 'QUOTA_EXCEEDED', 'Quota exceeded'],
    [0x82, 'PROTOCOL_ERROR', 'Protocol Error'],
    [0x81, 'MALFORMED_PACKET', 'Malformed Packet'],
    [0x10, 'NO_MATCHING_SUBSCRIBERS', 'No matching subscribers'],
    [0x86, 'BAD_USERNAME_OR_PASSWORD', 'Bad User Name or Password'],
  ])('0x%s → %s', (code, key, name) => {
    expect(reasonCodeKey(code)).toBe(key);
    expect(reasonCodeName(code)).toBe(name);
  });

  it('an unknown value has a key too', () => {
    expect(reasonCodeKey(0x42)).toBe('UNKNOWN_REASON_CODE');
  });

  it('ErrorCode values equal their names (stable strings)', () => {
    for (const [k, v] of Object.entries(ErrorCode)) expect(v).toBe(k);
  });
});

describe('MqttProtocolError', () => {
  it('derives code and reasonName from the reason code', () => {
    expect(malformed('x')).toMatchObject({ code: 'MALFORMED_PACKET', reasonCode: 0x81, reasonName: 'Malformed Packet' });
    expect(protocolError('x')).toMatchObject({ code: 'PROTOCOL_ERROR', reasonCode: 0x82, reasonName: 'Protocol Error' });
    expect(new MqttProtocolError(0x95)).toMatchObject({ code: 'PACKET_TOO_LARGE', message: 'Packet too large' });
    expect(new UnsupportedProtocolError('MQTT', 4)).toMatchObject({ code: 'UNSUPPORTED_PROTOCOL_VERSION', reasonCode: 0x84 });
  });

  it('keeps a cause', () => {
    const cause = new Error('inner');
    expect(new MqttProtocolError(0x82, 'outer', { cause }).cause).toBe(cause);
  });
});

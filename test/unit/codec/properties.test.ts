import { describe, it, expect } from '@jest/globals';
import {
  PROPERTIES,
  PROPERTY_BY_ID,
  PROPERTY_BY_NAME,
  PacketType,
  WILL_PROPERTIES,
  isPropertyAllowed,
} from '../../../lib/codec/index.js';

describe('property table', () => {
  it('has the 27 properties of spec 2.2.2.2 with their identifiers and wire types', () => {
    const byId = Object.fromEntries(PROPERTIES.map((p) => [p.id, `${p.name}:${p.type}`]));
    expect(byId).toEqual({
      0x01: 'payloadFormatIndicator:bool',
      0x02: 'messageExpiryInterval:u32',
      0x03: 'contentType:utf8',
      0x08: 'responseTopic:utf8',
      0x09: 'correlationData:binary',
      0x0b: 'subscriptionIdentifier:varint',
      0x11: 'sessionExpiryInterval:u32',
      0x12: 'assignedClientIdentifier:utf8',
      0x13: 'serverKeepAlive:u16',
      0x15: 'authenticationMethod:utf8',
      0x16: 'authenticationData:binary',
      0x17: 'requestProblemInformation:bool',
      0x18: 'willDelayInterval:u32',
      0x19: 'requestResponseInformation:bool',
      0x1a: 'responseInformation:utf8',
      0x1c: 'serverReference:utf8',
      0x1f: 'reasonString:utf8',
      0x21: 'receiveMaximum:u16',
      0x22: 'topicAliasMaximum:u16',
      0x23: 'topicAlias:u16',
      0x24: 'maximumQoS:byte',
      0x25: 'retainAvailable:bool',
      0x26: 'userProperties:pair',
      0x27: 'maximumPacketSize:u32',
      0x28: 'wildcardSubscriptionAvailable:bool',
      0x29: 'subscriptionIdentifiersAvailable:bool',
      0x2a: 'sharedSubscriptionAvailable:bool',
    });
  });

  it('indexes by identifier and by name consistently, with distinct bits', () => {
    const bits = new Set<number>();
    for (const p of PROPERTIES) {
      expect(PROPERTY_BY_ID[p.id]).toBe(p);
      expect(PROPERTY_BY_NAME[p.name]).toBe(p);
      bits.add(p.bit);
    }
    expect(bits.size).toBe(PROPERTIES.length);
    expect(PROPERTY_BY_ID[0x04]).toBeUndefined();
    expect(PROPERTY_BY_NAME['toString']).toBeUndefined();
  });

  it('knows where each property may go', () => {
    expect(isPropertyAllowed(PacketType.PUBLISH, 'topicAlias')).toBe(true);
    expect(isPropertyAllowed(PacketType.CONNECT, 'topicAlias')).toBe(false);
    expect(isPropertyAllowed(WILL_PROPERTIES, 'willDelayInterval')).toBe(true);
    expect(isPropertyAllowed(PacketType.CONNECT, 'willDelayInterval')).toBe(false);
    expect(isPropertyAllowed(WILL_PROPERTIES, 'sessionExpiryInterval')).toBe(false);
    expect(isPropertyAllowed(PacketType.AUTH, 'reasonString')).toBe(true);
    expect(isPropertyAllowed(PacketType.PINGREQ, 'userProperties')).toBe(false);
    expect(isPropertyAllowed(PacketType.SUBSCRIBE, 'subscriptionIdentifier')).toBe(true);
    expect(isPropertyAllowed(PacketType.SUBACK, 'subscriptionIdentifier')).toBe(false);
  });

  it('lets user properties repeat everywhere and subscription identifiers only in PUBLISH', () => {
    const repeatable = PROPERTIES.filter((p) => p.repeatableIn.length > 0).map((p) => p.name);
    expect(repeatable.sort()).toEqual(['subscriptionIdentifier', 'userProperties']);
    expect(PROPERTY_BY_NAME['userProperties']!.repeatableIn).toEqual(PROPERTY_BY_NAME['userProperties']!.contexts);
    expect(PROPERTY_BY_NAME['subscriptionIdentifier']!.repeatableIn).toEqual([PacketType.PUBLISH]);
  });

  it('marks the properties whose value 0 is a protocol error', () => {
    expect(PROPERTIES.filter((p) => p.nonZero).map((p) => p.name).sort()).toEqual([
      'maximumPacketSize',
      'receiveMaximum',
      'subscriptionIdentifier',
      'topicAlias',
    ]);
  });
});

/** The CLI's value parsers and the CONNECT options built from parsed flags. */
import { describe, expect, it } from '@jest/globals';
import { InvalidArgumentError } from 'commander';
import { connectOptionsOf, type ClientCliOptions } from '../../../lib/cli/client-options.js';
import {
  collectUserProperty,
  integerIn,
  parseBrokerUrl,
  parseQos,
  parseRetainHandling,
  parseTopicFilter,
  parseTopicName,
  positiveSecondsToMs,
  secondsToMs,
} from '../../../lib/cli/parse.js';

describe('parsers', () => {
  it('accepts broker URLs of every supported scheme and refuses others with a reason', () => {
    for (const url of ['mqtt://h:1', 'tcp://h', 'mqtts://h:8883', 'tls://[::1]:8883', 'ws://h:8080/mqtt', 'wss://h/mqtt']) {
      expect(parseBrokerUrl(url).href).toBe(new URL(url).href);
    }
    expect(() => parseBrokerUrl('http://h')).toThrow(new InvalidArgumentError('Unsupported scheme http: (use mqtt:, tcp:, mqtts:, tls:, ws: or wss:).'));
    expect(() => parseBrokerUrl('127.0.0.1:1883')).toThrow(new InvalidArgumentError('No scheme; did you mean mqtt://127.0.0.1:1883?'));
    expect(() => parseBrokerUrl('mqtt://a b')).toThrow(/Not a URL/);
    expect(() => parseBrokerUrl('mqtt://')).toThrow(/no host/);
  });

  it('parses bounded integers and durations strictly', () => {
    const port = integerIn(0, 65535);
    expect(port('0')).toBe(0);
    expect(port('65535')).toBe(65535);
    for (const bad of ['65536', '-1', '1.5', '1e3', '', ' ', '0x10', 'abc']) expect(() => port(bad)).toThrow(InvalidArgumentError);
    expect(secondsToMs('0.05')).toBe(50);
    expect(secondsToMs('2')).toBe(2000);
    expect(secondsToMs('0')).toBe(0);
    expect(() => secondsToMs('-1')).toThrow(InvalidArgumentError);
    expect(() => secondsToMs('3000000')).toThrow(InvalidArgumentError); // beyond setTimeout's range
    expect(() => positiveSecondsToMs('0')).toThrow(/above 0/);
  });

  it('parses QoS, retain handling, topic names and filters', () => {
    expect([parseQos('0'), parseQos('1'), parseQos('2')]).toEqual([0, 1, 2]);
    expect(() => parseQos('3')).toThrow(InvalidArgumentError);
    expect(parseRetainHandling('2')).toBe(2);
    expect(() => parseRetainHandling('x')).toThrow(InvalidArgumentError);
    expect(parseTopicName('a/b')).toBe('a/b');
    for (const bad of ['', 'a/+', 'a/#']) expect(() => parseTopicName(bad)).toThrow(InvalidArgumentError);
    expect(parseTopicFilter('$share/g/a/+/#')).toBe('$share/g/a/+/#');
    for (const bad of ['a/#/b', 'a+', '']) expect(() => parseTopicFilter(bad)).toThrow(InvalidArgumentError);
  });

  it('collects user properties in order, duplicates and empty values kept', () => {
    let acc = collectUserProperty('a=1', undefined);
    acc = collectUserProperty('a=2', acc);
    acc = collectUserProperty('url=x=y', acc);
    acc = collectUserProperty('empty=', acc);
    expect(acc).toEqual([['a', '1'], ['a', '2'], ['url', 'x=y'], ['empty', '']]);
    expect(() => collectUserProperty('=v', undefined)).toThrow(InvalidArgumentError);
    expect(() => collectUserProperty('novalue', undefined)).toThrow(InvalidArgumentError);
  });
});

describe('connectOptionsOf', () => {
  const base: ClientCliOptions = { broker: new URL('mqtt://h'), keepalive: 60, willPayload: '', willQos: 0 };

  it('defaults to a clean start with a broker-assigned id', () => {
    expect(connectOptionsOf(base)).toEqual({ clientId: '', keepAlive: 60, cleanStart: true, username: undefined, password: undefined });
  });

  it('maps session, credentials and the will', () => {
    const o = connectOptionsOf({
      ...base,
      clientId: 'c1',
      cleanStart: false,
      sessionExpiry: 30,
      username: 'u',
      password: 'p',
      willTopic: 'w/t',
      willPayload: 'bye',
      willQos: 1,
      willRetain: true,
      willDelayInterval: 5,
    });
    expect(o).toEqual({
      clientId: 'c1',
      keepAlive: 60,
      cleanStart: false,
      username: 'u',
      password: 'p',
      properties: { sessionExpiryInterval: 30 },
      will: { topic: 'w/t', payload: 'bye', qos: 1, retain: true, properties: { willDelayInterval: 5 } },
    });
  });
});

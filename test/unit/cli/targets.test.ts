/** mosquitto-style flags beside the positional form: host/port/version parsers, the URL they shape, topic/QoS/message resolution. */
import { describe, expect, it } from '@jest/globals';
import { InvalidArgumentError } from 'commander';
import { brokerUrlOf } from '../../../lib/cli/client-options.js';
import { UsageError } from '../../../lib/cli/errors.js';
import { collectTopicFilter, parseHost, parsePort, parseProtocolVersion } from '../../../lib/cli/parse.js';
import { resolvePubTarget, resolveSubTarget } from '../../../lib/cli/targets.js';

describe('-h, -p, -V', () => {
  it('parses hosts (IPv6 bracketed), ports 1–65535 and only MQTT v5', () => {
    expect(parseHost('broker.local')).toBe('broker.local');
    expect(parseHost('127.0.0.1')).toBe('127.0.0.1');
    expect(parseHost('::1')).toBe('[::1]');
    expect(parseHost('[::1]')).toBe('[::1]');
    for (const bad of ['', ' ', 'a b', 'host/path', 'user@host', 'a?b']) expect(() => parseHost(bad)).toThrow(InvalidArgumentError);
    expect(parsePort('1')).toBe(1);
    expect(parsePort('65535')).toBe(65535);
    for (const bad of ['0', '65536', 'x', '1.5']) expect(() => parsePort(bad)).toThrow(InvalidArgumentError);
    for (const ok of ['5', 'mqttv5', 'MQTTv5', 'v5']) expect(parseProtocolVersion(ok)).toBe(5);
    for (const old of ['mqttv311', 'mqttv31', '311', '31', '3.1.1', '4']) expect(() => parseProtocolVersion(old)).toThrow(/not supported/);
    expect(() => parseProtocolVersion('6')).toThrow(new InvalidArgumentError('This client speaks MQTT v5 only: use 5 or mqttv5.'));
  });

  it('replaces the host and port of the -b URL, keeping scheme, credentials and path', () => {
    const broker = new URL('ws://u:p@example.com:8080/mqtt');
    expect(brokerUrlOf({ broker })).toBe(broker);
    expect(brokerUrlOf({ broker, host: '10.0.0.2' }).href).toBe('ws://u:p@10.0.0.2:8080/mqtt');
    expect(brokerUrlOf({ broker, port: 9001 }).href).toBe('ws://u:p@example.com:9001/mqtt');
    expect(brokerUrlOf({ broker: new URL('mqtt://127.0.0.1:1883'), host: '[::1]', port: 1884 }).href).toBe('mqtt://[::1]:1884');
    expect(broker.href).toBe('ws://u:p@example.com:8080/mqtt'); // not mutated
  });
});

describe('pub: topic, QoS, message', () => {
  it('takes the positional form or the flags, QoS 0 by default', () => {
    expect(resolvePubTarget('a/b', 1, 'hi', {})).toEqual({ topic: 'a/b', qos: 1, source: { kind: 'text', text: 'hi' } });
    expect(resolvePubTarget(undefined, undefined, undefined, { topic: 'a/b', message: 'hi' })).toEqual({ topic: 'a/b', qos: 0, source: { kind: 'text', text: 'hi' } });
    expect(resolvePubTarget('a/b', undefined, undefined, { qos: 2, nullMessage: true })).toEqual({ topic: 'a/b', qos: 2, source: { kind: 'empty' } });
    expect(resolvePubTarget(undefined, undefined, undefined, { topic: 't', file: 'f.bin' }).source).toEqual({ kind: 'file', path: 'f.bin' });
    expect(resolvePubTarget(undefined, undefined, undefined, { topic: 't', stdin: true }).source).toEqual({ kind: 'stdin' });
    expect(resolvePubTarget(undefined, undefined, undefined, { topic: 't', stdinLine: true }).source).toEqual({ kind: 'stdin-lines' });
    expect(resolvePubTarget('t', 0, '', {}).source).toEqual({ kind: 'text', text: '' });
  });

  it('refuses a value given twice or missing, naming the options', () => {
    expect(() => resolvePubTarget('x', undefined, undefined, { topic: 't', message: 'm' })).toThrow(new UsageError('-t/--topic is given, so no arguments are expected (got "x"): give the QoS with -q and the message with -m.'));
    expect(() => resolvePubTarget('t', 1, 'm', { qos: 1 })).toThrow(/-q\/--qos and a QoS argument/);
    expect(() => resolvePubTarget(undefined, undefined, undefined, { message: 'm' })).toThrow(/No topic: give it with -t\/--topic/);
    expect(() => resolvePubTarget('t', 1, undefined, {})).toThrow(/No message: give it with -m\/--message/);
    expect(() => resolvePubTarget('t', 1, 'm', { message: 'n' })).toThrow(/Give the message one way only/);
    expect(() => resolvePubTarget(undefined, undefined, undefined, { topic: 't', stdin: true, stdinLine: true })).toThrow(/one way only/);
  });
});

describe('sub: filters and QoS', () => {
  it('takes one positional filter or several -t, QoS 0 by default', () => {
    expect(resolveSubTarget('a/#', 1, {})).toEqual({ filters: ['a/#'], qos: 1 });
    expect(resolveSubTarget(undefined, undefined, { topic: collectTopicFilter('y/+', collectTopicFilter('x', undefined)) })).toEqual({ filters: ['x', 'y/+'], qos: 0 });
    expect(() => collectTopicFilter('a/#/b', undefined)).toThrow(InvalidArgumentError);
    expect(() => resolveSubTarget('a', undefined, { topic: ['b'] })).toThrow(/-t\/--topic is given/);
    expect(() => resolveSubTarget('a', 1, { qos: 1 })).toThrow(/give the QoS one way only/);
    expect(() => resolveSubTarget(undefined, undefined, {})).toThrow(/No topic filter/);
  });
});

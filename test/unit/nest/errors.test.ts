import { describe, expect, it } from '@jest/globals';
import {
  ClientClosedError,
  ConnackError,
  ConnectFailedError,
  ConnectTimeoutError,
  ConnectionLostError,
  DisconnectedError,
  MqttClientError,
  NotConnectedError,
  PublishError,
  QueueFullError,
  SubscribeError,
} from '../../../lib/client/index.js';
import { MqttProtocolError, PacketType } from '../../../lib/codec/index.js';
import * as root from '../../../lib/index.js';
import {
  ErrorCode,
  Mqtt5ClosedError,
  Mqtt5ConnectFailedError,
  Mqtt5ConnectionLostError,
  Mqtt5ConnectionRefusedError,
  Mqtt5NoRespondersError,
  Mqtt5NotConnectedError,
  Mqtt5OfflineQueueFullError,
  Mqtt5OptionsError,
  Mqtt5ProtocolError,
  Mqtt5PublishError,
  Mqtt5RequestTimeoutError,
  Mqtt5TimeoutError,
  Mqtt5TransportError,
  toTransportError,
} from '../../../lib/nest/index.js';

describe('Mqtt5* errors: code, reasonCode, reasonName', () => {
  it.each([
    ['Mqtt5RequestTimeoutError', new Mqtt5RequestTimeoutError('a/b', 50), 'REQUEST_TIMEOUT', undefined, undefined],
    ['Mqtt5NoRespondersError', new Mqtt5NoRespondersError('a/b'), 'NO_RESPONDERS', 0x10, 'No matching subscribers'],
    ['Mqtt5ConnectionLostError', new Mqtt5ConnectionLostError('a/b', 'gone', 0x8b), 'CONNECTION_LOST', 0x8b, 'Server shutting down'],
    ['Mqtt5ClosedError', new Mqtt5ClosedError('ClientMqtt5'), 'CLOSED', undefined, undefined],
    ['Mqtt5NotConnectedError', new Mqtt5NotConnectedError('call connect()'), 'NOT_CONNECTED', undefined, undefined],
    ['Mqtt5ConnectFailedError', new Mqtt5ConnectFailedError('mqtt://h:1', 3, 'ECONNREFUSED'), 'CONNECT_FAILED', undefined, undefined],
    ['Mqtt5ConnectionRefusedError', new Mqtt5ConnectionRefusedError(0x87), 'CONNECTION_REFUSED', 0x87, 'Not authorized'],
    ['Mqtt5PublishError 0x95', new Mqtt5PublishError(0x95, 'too large'), 'PACKET_TOO_LARGE', 0x95, 'Packet too large'],
    ['Mqtt5PublishError 0x87', new Mqtt5PublishError(0x87, 'no'), 'NOT_AUTHORIZED', 0x87, 'Not authorized'],
    ['Mqtt5PublishError 0x97', new Mqtt5PublishError(0x97, 'quota'), 'QUOTA_EXCEEDED', 0x97, 'Quota exceeded'],
    ['Mqtt5ProtocolError', new Mqtt5ProtocolError(0x82, 'bad'), 'PROTOCOL_ERROR', 0x82, 'Protocol Error'],
    ['Mqtt5OfflineQueueFullError', new Mqtt5OfflineQueueFullError(10), 'OFFLINE_QUEUE_FULL', undefined, undefined],
    ['Mqtt5TimeoutError', new Mqtt5TimeoutError('emit() on "a"', 10), 'TIMEOUT', undefined, undefined],
    ['Mqtt5OptionsError', new Mqtt5OptionsError('url', 'a broker URL', '"x"'), 'INVALID_OPTION', undefined, undefined],
  ])('%s', (_name, error, code, reasonCode, reasonName) => {
    expect(error).toBeInstanceOf(Mqtt5TransportError);
    expect(error.code).toBe(code);
    expect(error.reasonCode).toBe(reasonCode);
    expect(error.reasonName).toBe(reasonName);
    expect(Object.values(ErrorCode) as string[]).toEqual(expect.arrayContaining(reasonCode === undefined ? [code] : []));
  });

  it('Mqtt5OptionsError names the option and the value', () => {
    const e = new Mqtt5OptionsError('clientOptions.reconnectJitter', 'a number in 0..1', '2');
    expect(e.option).toBe('clientOptions.reconnectJitter');
    expect(e.message).toBe('Invalid option clientOptions.reconnectJitter: must be a number in 0..1, got 2');
  });
});

describe('toTransportError', () => {
  const connack = (reasonCode: number) => new ConnackError({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties: { reasonString: 'go away' } });
  it.each<[string, unknown, new (...a: never[]) => Mqtt5TransportError, string, number | undefined]>([
    ['ConnackError', connack(0x86), Mqtt5ConnectionRefusedError, 'CONNECTION_REFUSED', 0x86],
    ['ConnectFailedError', new ConnectFailedError(0x80, 'Cannot connect to mqtt://h:1: ECONNREFUSED'), Mqtt5ConnectFailedError, 'CONNECT_FAILED', undefined],
    ['ConnectTimeoutError', new ConnectTimeoutError(10), Mqtt5ConnectFailedError, 'CONNECT_FAILED', undefined],
    ['ConnectionLostError', new ConnectionLostError(0x8d, 'No PINGRESP'), Mqtt5ConnectionLostError, 'CONNECTION_LOST', 0x8d],
    ['DisconnectedError', new DisconnectedError({ type: PacketType.DISCONNECT, reasonCode: 0x8e }), Mqtt5ConnectionLostError, 'CONNECTION_LOST', 0x8e],
    ['ClientClosedError', new ClientClosedError(), Mqtt5ClosedError, 'CLOSED', undefined],
    ['NotConnectedError', new NotConnectedError(), Mqtt5NotConnectedError, 'NOT_CONNECTED', undefined],
    ['PublishError', new PublishError(0x87), Mqtt5PublishError, 'NOT_AUTHORIZED', 0x87],
    ['QueueFullError', new QueueFullError(3), Mqtt5PublishError, 'QUOTA_EXCEEDED', 0x97],
    ['MqttProtocolError', new MqttProtocolError(0x81, 'bad varint'), Mqtt5ProtocolError, 'MALFORMED_PACKET', 0x81],
    ['SubscribeError', new SubscribeError(0x8f, 'bad'), Mqtt5TransportError, 'TOPIC_FILTER_INVALID', 0x8f],
    ['MqttClientError', new MqttClientError(0x91), Mqtt5TransportError, 'PACKET_ID_IN_USE', 0x91],
    ['TypeError', new TypeError('boom'), Mqtt5TransportError, 'UNKNOWN', undefined],
    ['a string', 'boom', Mqtt5TransportError, 'UNKNOWN', undefined],
  ])('%s', (_name, input, Type, code, reasonCode) => {
    const mapped = toTransportError(input, { url: 'mqtt://h:1', topic: 'a/b' });
    expect(mapped).toBeInstanceOf(Type);
    expect(mapped).toBeInstanceOf(Mqtt5TransportError);
    expect(mapped.code).toBe(code);
    expect(mapped.reasonCode).toBe(reasonCode);
    expect(mapped.cause).toBe(input);
  });

  it('keeps the peer reason string of a refusal and names the topic of a loss', () => {
    expect(toTransportError(connack(0x87)).message).toBe('Connection refused by the broker: Not authorized (go away)');
    expect(toTransportError(new ConnectionLostError(0x80, 'closed'), { topic: 't' }).message).toBe(
      'Connection lost while waiting for the response on "t": closed',
    );
    expect(toTransportError(new ConnectionLostError(0x80, 'closed')).message).toBe('Connection lost: closed');
  });

  it('passes an Mqtt5TransportError through', () => {
    const e = new Mqtt5NoRespondersError('x');
    expect(toTransportError(e)).toBe(e);
  });
});

describe('root exports', () => {
  it('every Mqtt5* error class, toTransportError and ErrorCode come from the package root', () => {
    for (const name of [
      'Mqtt5TransportError',
      'Mqtt5RequestTimeoutError',
      'Mqtt5NoRespondersError',
      'Mqtt5ConnectionLostError',
      'Mqtt5ClosedError',
      'Mqtt5NotConnectedError',
      'Mqtt5SubscribeError',
      'Mqtt5InvalidTopicError',
      'Mqtt5ConnectFailedError',
      'Mqtt5ConnectionRefusedError',
      'Mqtt5PublishError',
      'Mqtt5ProtocolError',
      'Mqtt5OfflineQueueFullError',
      'Mqtt5TimeoutError',
      'Mqtt5OptionsError',
      'toTransportError',
      'ErrorCode',
    ]) {
      expect((root as Record<string, unknown>)[name]).toBeDefined();
    }
    expect(root.Mqtt5OptionsError.prototype).toBeInstanceOf(root.Mqtt5TransportError);
  });
});

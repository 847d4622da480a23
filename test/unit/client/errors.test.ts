import { describe, expect, it } from '@jest/globals';
import {
  AuthenticationError,
  ClientClosedError,
  ClientStateError,
  ConnackError,
  ConnectFailedError,
  ConnectTimeoutError,
  ConnectionLostError,
  DisconnectedError,
  MqttClientError,
  NotConnectedError,
  PublishError,
  QueueFullError,
  ReceiverClosedError,
  SubscribeError,
  UnsubscribeError,
  withoutCredentials,
} from '../../../lib/client/index.js';
import { asConnectFailure, asConnectionError } from '../../../lib/client/error-utils.js';
import { PacketType } from '../../../lib/codec/index.js';

describe('client errors: code, reasonCode, reasonName', () => {
  it.each([
    ['ConnackError', new ConnackError({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0x86 }), 'CONNECTION_REFUSED', 0x86, 'Bad User Name or Password'],
    ['ConnectFailedError', new ConnectFailedError(0x80, 'Cannot connect'), 'CONNECT_FAILED', 0x80, 'Unspecified error'],
    ['ConnectTimeoutError', new ConnectTimeoutError(100), 'CONNECT_TIMEOUT', 0x80, 'Unspecified error'],
    ['ConnectionLostError', new ConnectionLostError(0x8d, 'No PINGRESP'), 'CONNECTION_LOST', 0x8d, 'Keep Alive timeout'],
    ['DisconnectedError', new DisconnectedError({ type: PacketType.DISCONNECT, reasonCode: 0x8b }), 'DISCONNECTED', 0x8b, 'Server shutting down'],
    ['ClientClosedError', new ClientClosedError(), 'CLOSED', 0, 'Success'],
    ['NotConnectedError', new NotConnectedError(), 'NOT_CONNECTED', 0x80, 'Unspecified error'],
    ['QueueFullError', new QueueFullError(5), 'QUEUE_FULL', 0x97, 'Quota exceeded'],
    ['ClientStateError', new ClientStateError('busy'), 'INVALID_STATE', 0x80, 'Unspecified error'],
    ['ReceiverClosedError', new ReceiverClosedError(), 'RECEIVER_CLOSED', 0x80, 'Unspecified error'],
    ['AuthenticationError', new AuthenticationError(0x80, 'no'), 'AUTHENTICATION_FAILED', 0x80, 'Unspecified error'],
    ['PublishError 0x87', new PublishError(0x87), 'NOT_AUTHORIZED', 0x87, 'Not authorized'],
    ['PublishError 0x95', new PublishError(0x95, 'too big'), 'PACKET_TOO_LARGE', 0x95, 'Packet too large'],
    ['PublishError 0x97', new PublishError(0x97), 'QUOTA_EXCEEDED', 0x97, 'Quota exceeded'],
    ['SubscribeError 0x8f', new SubscribeError(0x8f, 'bad filter'), 'TOPIC_FILTER_INVALID', 0x8f, 'Topic Filter invalid'],
    ['UnsubscribeError 0x82', new UnsubscribeError(0x82, 'empty'), 'PROTOCOL_ERROR', 0x82, 'Protocol Error'],
    ['MqttClientError 0x91', new MqttClientError(0x91), 'PACKET_ID_IN_USE', 0x91, 'Packet Identifier in use'],
  ])('%s', (_name, error, code, reasonCode, reasonName) => {
    expect(error).toBeInstanceOf(MqttClientError);
    expect(error.code).toBe(code);
    expect(error.reasonCode).toBe(reasonCode);
    expect(error.reasonName).toBe(reasonName);
  });

  it('"could not connect" is distinct from "lost"', () => {
    const failed = new ConnectFailedError(0x80, 'x');
    expect(failed).not.toBeInstanceOf(ConnectionLostError);
    expect(new ConnectionLostError(0x80, 'x')).not.toBeInstanceOf(ConnectFailedError);
    // A connect timeout is a kind of connect failure.
    expect(new ConnectTimeoutError(1)).toBeInstanceOf(ConnectFailedError);
  });

  it('asConnectionError wraps a network error as ConnectFailedError with the cause', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const e = asConnectionError(cause, 'mqtt://127.0.0.1:1');
    expect(e).toBeInstanceOf(ConnectFailedError);
    expect(e.message).toBe('Cannot connect to mqtt://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    expect(e.cause).toBe(cause);
  });

  it('asConnectFailure turns a loss before CONNACK into ConnectFailedError, keeps the reason code, passes other typed errors', () => {
    const lost = new ConnectionLostError(0x82, 'Server broke the protocol');
    const e = asConnectFailure(lost, 'mqtt://h:1');
    expect(e).toBeInstanceOf(ConnectFailedError);
    expect(e).toMatchObject({ code: 'CONNECT_FAILED', reasonCode: 0x82, cause: lost });
    const refused = new ConnackError({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0x87 });
    expect(asConnectFailure(refused, 'mqtt://h:1')).toBe(refused);
    const timeout = new ConnectTimeoutError(5);
    expect(asConnectFailure(timeout, 'mqtt://h:1')).toBe(timeout);
  });
});

describe('withoutCredentials', () => {
  it('removes user and password', () => {
    expect(withoutCredentials('mqtt://user:secret@broker:1883')).toBe('mqtt://broker:1883');
    expect(withoutCredentials(new URL('ws://u:p@h:8080/mqtt'))).toBe('ws://h:8080/mqtt');
  });

  it('never throws, and still hides credentials of an unparseable URL', () => {
    expect(withoutCredentials('mqtt//user:secret@broker:1883')).toBe('mqtt//broker:1883');
    expect(withoutCredentials('not a url')).toBe('not a url');
  });
});

/** How the CLI words errors, connection events and messages. */
import { describe, expect, it } from '@jest/globals';
import {
  ClientClosedError,
  ConnackError,
  ConnectionLostError,
  ConnectTimeoutError,
  DisconnectedError,
  PublishError,
  type MqttMessage,
} from '../../../lib/client/index.js';
import { PacketType } from '../../../lib/codec/index.js';
import { ReconnectPolicy } from '../../../lib/cli/connection-events.js';
import { describeError, ExitCode, formatReason, formatReasonCode, TimeoutError, UsageError } from '../../../lib/cli/errors.js';
import { formatDisconnected, formatMessage, formatMessageJson, formatMessageVerbose, formatReconnecting } from '../../../lib/cli/format.js';

const connack = (reasonCode: number, reasonString?: string) =>
  ({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties: reasonString ? { reasonString } : undefined }) as const;
const disconnect = (reasonCode: number) => ({ type: PacketType.DISCONNECT, reasonCode }) as const;

function message(overrides: Partial<MqttMessage> = {}): MqttMessage {
  return { type: PacketType.PUBLISH, topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, packetId: 1, ...overrides };
}

describe('errors', () => {
  it('names reason codes with their hex value', () => {
    expect(formatReasonCode(0x87)).toBe('Not authorized (0x87)');
    expect(formatReasonCode(0x8b)).toBe('Server shutting down (0x8B)');
    expect(formatReason(0x87, 'not authorized')).toBe('Not authorized (0x87)');
    expect(formatReason(0x87, 'topic reserved')).toBe('Not authorized (0x87) — topic reserved');
  });

  it('maps errors to messages and exit codes', () => {
    expect(describeError(new ConnackError(connack(0x86, 'wrong password')))).toEqual({
      message: 'Connection refused by the broker: Bad User Name or Password (0x86) — wrong password',
      exitCode: ExitCode.Refused,
    });
    expect(describeError(new ConnectTimeoutError(300))).toEqual({ message: 'No CONNACK within 300 ms', exitCode: ExitCode.Timeout });
    expect(describeError(new UsageError('bad'))).toEqual({ message: 'bad', exitCode: ExitCode.Usage });
    expect(describeError(new TimeoutError('slow'))).toEqual({ message: 'slow', exitCode: ExitCode.Timeout });
    expect(describeError(new PublishError(0x97, 'queue full')).message).toBe('queue full [Quota exceeded (0x97)]');
    expect(describeError(new DisconnectedError(disconnect(0x98))).message).toBe('Server sent DISCONNECT: Administrative action (0x98)');
    expect(describeError(new ConnectionLostError(0x80, 'Connection closed'))).toEqual({ message: 'Connection closed', exitCode: ExitCode.Failure });
    expect(describeError('odd')).toEqual({ message: 'odd', exitCode: ExitCode.Failure });
  });
});

describe('connection events', () => {
  it('describes how a connection ended and the next attempt', () => {
    expect(formatDisconnected(new ClientClosedError(0))).toBe('disconnected: sent Normal disconnection (0x00)');
    expect(formatDisconnected(new ClientClosedError(0), false)).toBe('stopped reconnecting');
    expect(formatDisconnected(new DisconnectedError(disconnect(0x8e)))).toBe('disconnected by the broker: Session taken over (0x8E)');
    expect(formatDisconnected(new ConnectionLostError(0x8d, 'No PINGRESP within 5000 ms'))).toBe('connection lost: No PINGRESP within 5000 ms');
    const error = new ConnectionLostError(0x80, 'Cannot connect to mqtt://h:1: ECONNREFUSED');
    expect(formatReconnecting({ attempt: 1, delay: 50, error })).toBe('reconnecting: attempt 1 in 50 ms');
    expect(formatReconnecting({ attempt: 3, delay: 200, error })).toBe(
      'reconnecting: attempt 3 in 200 ms (attempt 2 failed: Cannot connect to mqtt://h:1: ECONNREFUSED)',
    );
  });

  it('reconnects unless told not to, after a session takeover, or after a permanent refusal', async () => {
    const on = new ReconnectPolicy(true);
    expect(on.decide(new ConnectionLostError(0x80, 'lost'))).toBe(true);
    expect(on.decide(new ConnackError(connack(0x89)))).toBe(true); // Server busy: may pass
    expect(on.error).toBeUndefined();
    const takeover = new DisconnectedError(disconnect(0x8e));
    expect(on.decide(takeover)).toBe(false);
    await expect(on.gaveUp).resolves.toBe(takeover);
    expect(new ReconnectPolicy(true).decide(new ConnackError(connack(0x87)))).toBe(false);
    const off = new ReconnectPolicy(false);
    expect(off.decide(new ConnectionLostError(0x80, 'lost'))).toBe(false);
    expect(off.error?.message).toBe('lost');
  });
});

describe('messages', () => {
  it('prints "topic payload", binary payloads as hex', () => {
    expect(formatMessage(message())).toBe('a/b hi');
    expect(formatMessage(message({ payload: Buffer.from([0xff, 0x01]) }))).toBe('a/b 0xff01');
  });

  it('prints QoS, flags and properties in verbose mode', () => {
    const text = formatMessageVerbose(
      message({
        retain: true,
        dup: true,
        properties: { contentType: 'text/plain', messageExpiryInterval: 9, responseTopic: 'r', correlationData: Buffer.from('c1'), userProperties: [['k', 'v'], ['k', 'w']], subscriptionIdentifier: [1, 2] },
      }),
    );
    expect(text.split('\n')).toEqual([
      'a/b hi',
      '  qos: 1, retain: yes, dup: yes, 2 bytes',
      '  content type: text/plain',
      '  message expiry: 9 s',
      '  response topic: r',
      '  correlation data: c1',
      '  subscription identifier: 1,2',
      '  user property: k=v',
      '  user property: k=w',
    ]);
  });

  it('prints one JSON object, properties only when present', () => {
    expect(JSON.parse(formatMessageJson(message()))).toEqual({ topic: 'a/b', payload: 'hi', qos: 1, retain: false, dup: false });
    expect(JSON.parse(formatMessageJson(message({ payload: Buffer.from([0xff]), properties: { payloadFormatIndicator: false } })))).toEqual({
      topic: 'a/b', payload: '/w==', payloadEncoding: 'base64', qos: 1, retain: false, dup: false, properties: { payloadFormatIndicator: false },
    });
  });
});

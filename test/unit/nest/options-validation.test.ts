import { describe, expect, it } from '@jest/globals';
import { ClientMqtt5, Mqtt5OptionsError, Mqtt5RecordBuilder, ServerMqtt5 } from '../../../lib/nest/index.js';
import { validateClientOptions, validateServerOptions } from '../../../lib/nest/options-validation.js';

function optionsError(fn: () => unknown): Mqtt5OptionsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Mqtt5OptionsError);
    return error as Mqtt5OptionsError;
  }
  throw new Error('no error thrown');
}

describe('options validation at construction', () => {
  it.each([
    ['url', { url: 'mqtt//127.0.0.1:1883' }, /mqtt\/\/127\.0\.0\.1:1883/],
    ['url', { url: 'http://127.0.0.1:1883' }, /unknown scheme http:/],
    ['url', { url: 'mqtt://' }, /no host|mqtt:/],
    ['keepAlive', { keepAlive: -1 }, /got -1/],
    ['keepAlive', { keepAlive: 1.5 }, /got 1.5/],
    ['sessionExpiryInterval', { sessionExpiryInterval: -5 }, /got -5/],
    ['clientOptions.reconnectJitter', { clientOptions: { reconnectJitter: 2 } }, /got 2/],
    ['clientOptions.initialReconnectDelay', { clientOptions: { initialReconnectDelay: -1 } }, /got -1/],
    ['clientOptions.maxInflight', { clientOptions: { maxInflight: 0 } }, /got 0/],
    ['connectAttempts', { connectAttempts: 0 }, /got 0/],
    ['connectAttempts', { connectAttempts: 2.5 }, /got 2.5/],
    ['connectTimeout', { connectTimeout: -10 }, /got -10/],
    ['will.topic', { will: { topic: 'a/#' } }, /"a\/#"/],
    ['will.qos', { will: { topic: 'a', qos: 3 } }, /got 3/],
    ['telemetry', { telemetry: 'on' }, /"on"|on/],
    ['telemetry.tracing', { telemetry: { tracing: 'yes' } }, /yes/],
    ['telemetry.metrics', { telemetry: { metrics: 1 } }, /got 1/],
  ])('both sides: %s %j', (option, options, shown) => {
    for (const make of [() => new ServerMqtt5(options as never), () => new ClientMqtt5(options as never)]) {
      const e = optionsError(make);
      expect(e.option).toBe(option);
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.message).toContain(option);
      expect(e.message).toMatch(shown);
    }
  });

  it.each([
    ['subscribeOptions.qos', { subscribeOptions: { qos: 5 } }],
    ['subscribeOptions.share', { subscribeOptions: { share: 'a/b' } }],
    ['subscribeOptions.retainHandling', { subscribeOptions: { retainHandling: 3 } }],
    ['ackMode', { ackMode: 'later' }],
    ['concurrency', { concurrency: 0 }],
    ['receiveMaximum', { concurrency: 10, receiveMaximum: 5 }],
    ['replyQos', { replyQos: -1 }],
    ['shutdownTimeout', { shutdownTimeout: -1 }],
    ['closeTimeout', { closeTimeout: 1.5 }],
    ['onHandlerError', { onHandlerError: 'retry' }],
    ['serializer', { serializer: {} }],
  ])('server: %s', (option, options) => {
    expect(optionsError(() => new ServerMqtt5(options as never)).option).toBe(option);
  });

  it.each([
    ['qos', { qos: 3 }],
    ['requestTimeout', { requestTimeout: -1 }],
    ['offlineQueueLimit', { offlineQueueLimit: 1.5 }],
    ['noResponders', { noResponders: 'maybe' }],
    ['noRespondersGrace', { noRespondersGrace: -1 }],
    ['responseTopicPrefix', { responseTopicPrefix: 'a/+' }],
    ['deserializer', { deserializer: { parse: () => 1 } }],
  ])('client: %s', (option, options) => {
    expect(optionsError(() => new ClientMqtt5(options as never)).option).toBe(option);
  });

  it('never shows a password: not from the URL, not from the option', () => {
    const e = optionsError(() => new ClientMqtt5({ url: 'http://user:s3cret@host:1883' }));
    expect(e.message).not.toContain('s3cret');
    expect(e.message).toContain('http://host:1883');
    const bad = optionsError(() => new ClientMqtt5({ url: 'mqtt//user:s3cret@host:1883' }));
    expect(bad.message).not.toContain('s3cret');
    const pw = optionsError(() => new ServerMqtt5({ password: 12345 as never }));
    expect(pw.option).toBe('password');
    expect(pw.message).not.toContain('12345');
  });

  it('accepts good options and resolves the lifecycle defaults', () => {
    expect(validateServerOptions({ url: 'mqtts://u:p@h:8883', connectAttempts: 5 })).toEqual({
      connectAttempts: 5,
      connectTimeout: 0,
      shutdownTimeout: 10_000,
      onHandlerError: 'ack',
    });
    expect(validateServerOptions({ closeTimeout: 7 }).shutdownTimeout).toBe(7);
    expect(validateServerOptions({ closeTimeout: 7, shutdownTimeout: 9 }).shutdownTimeout).toBe(9);
    expect(validateClientOptions({ url: 'ws://h:8080/mqtt', connectAttempts: Infinity })).toEqual({
      connectAttempts: Infinity,
      connectTimeout: 0,
      requestTimeout: 30_000,
      offlineQueueLimit: 1000,
      noResponders: 'fail',
      noRespondersGrace: 5000,
      shutdownTimeout: 10_000,
    });
    expect(() => new ServerMqtt5({ url: 'tcp://127.0.0.1:1', subscribeOptions: { share: 'g', qos: 2 } })).not.toThrow();
    expect(() => new ClientMqtt5({ url: 'wss://h/mqtt', qos: 0, requestTimeout: 0 })).not.toThrow();
  });
});

describe('Mqtt5RecordBuilder.setTimeout', () => {
  it('puts a per-call timeout on the record', () => {
    expect(new Mqtt5RecordBuilder({ a: 1 }).setTimeout(250).build().options).toEqual({ timeout: 250 });
    expect(new Mqtt5RecordBuilder().setTimeout(0).setQoS(2).build().options).toEqual({ qos: 2, timeout: 0 });
  });

  it('refuses a negative or non-integer timeout', () => {
    expect(optionsError(() => new Mqtt5RecordBuilder().setTimeout(-1)).option).toBe('timeout');
    expect(optionsError(() => new Mqtt5RecordBuilder().setTimeout(1.5)).message).toContain('got 1.5');
  });
});

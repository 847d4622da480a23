import { describe, expect, it } from '@jest/globals';
import { BrokerClosedError, BrokerOptionsError, HookError, MqttBroker } from '../../../lib/broker/index.js';

describe('broker errors carry a stable code', () => {
  it('BrokerOptionsError: INVALID_OPTION, naming the option', () => {
    let error: unknown;
    try {
      new MqttBroker({ maxConnections: -1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BrokerOptionsError);
    expect(error).toMatchObject({ code: 'INVALID_OPTION', option: 'maxConnections' });
    expect(() => new MqttBroker({ queueFullPolicy: 'x' as never })).toThrow(expect.objectContaining({ option: 'queueFullPolicy' }) as never);
  });

  it('HookError: HOOK_FAILED with the reason code the client got; BrokerClosedError: CLOSED', () => {
    const cause = new Error('db down');
    expect(new HookError('authenticate', 0x87, cause)).toMatchObject({ code: 'HOOK_FAILED', reasonCode: 0x87, reasonName: 'Not authorized', cause });
    expect(new BrokerClosedError()).toMatchObject({ code: 'CLOSED' });
  });
});

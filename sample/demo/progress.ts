import { EventEmitter } from 'node:events';
import type { DeviceState } from '../devices/device.types.js';

/**
 * In-process notifications between the sample's applications, so that the finite demo knows when
 * the dashboard has seen the retained statuses (the apps themselves talk only over MQTT).
 */
export class DemoProgress extends EventEmitter<{ status: [deviceId: string, state: DeviceState, retained: boolean] }> {
  private readonly latest = new Map<string, DeviceState>();

  statusSeen(deviceId: string, state: DeviceState, retained: boolean): void {
    this.latest.set(deviceId, state);
    this.emit('status', deviceId, state, retained);
  }

  /** Resolves once every device in `expected` was last seen in its expected state; rejects after `ms`. */
  waitForStatuses(expected: Record<string, DeviceState>, ms: number): Promise<void> {
    const done = (): boolean => Object.entries(expected).every(([id, state]) => this.latest.get(id) === state);
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onStatus = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`The dashboard did not see the statuses ${JSON.stringify(expected)} within ${ms} ms`));
      }, ms);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('status', onStatus);
      };
      this.on('status', onStatus);
    });
  }
}

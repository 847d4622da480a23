import { Injectable } from '@nestjs/common';
import type { DeviceState, DeviceSummary, Reading } from './device.types.js';

interface Aggregate {
  readings: number;
  min: number;
  max: number;
  sum: number;
  lastHumidity: number;
  state: DeviceState;
}

/** In-memory aggregation of telemetry per device (a real service would use a time-series store). */
@Injectable()
export class TelemetryStore {
  private readonly devices = new Map<string, Aggregate>();

  /** Adds a reading; returns true when the device was not known before. */
  add(deviceId: string, reading: Reading): boolean {
    const a = this.devices.get(deviceId);
    if (a === undefined) {
      const c = reading.celsius;
      this.devices.set(deviceId, { readings: 1, min: c, max: c, sum: c, lastHumidity: reading.humidity, state: 'online' });
      return true;
    }
    a.readings++;
    a.min = Math.min(a.min, reading.celsius);
    a.max = Math.max(a.max, reading.celsius);
    a.sum += reading.celsius;
    a.lastHumidity = reading.humidity;
    return false;
  }

  setState(deviceId: string, state: DeviceState): void {
    const a = this.devices.get(deviceId);
    if (a !== undefined) a.state = state;
  }

  /** The device's summary, or undefined for an unknown device. */
  summary(deviceId: string): DeviceSummary | undefined {
    const a = this.devices.get(deviceId);
    if (a === undefined) return undefined;
    return {
      deviceId,
      readings: a.readings,
      minCelsius: a.min,
      maxCelsius: a.max,
      avgCelsius: Math.round((a.sum / a.readings) * 100) / 100,
      lastHumidity: a.lastHumidity,
      state: a.state,
    };
  }
}

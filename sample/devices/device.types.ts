/** Messages of the device domain, as they travel as JSON over MQTT. */

/** Topic layout, in one place: `devices/<id>/telemetry`, `devices/<id>/status`, `devices/<id>/commands/<name>`. */
export const Topics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  status: (deviceId: string) => `devices/${deviceId}/status`,
  command: (deviceId: string, command: 'status' | 'reboot') => `devices/${deviceId}/commands/${command}`,
} as const;

/** One telemetry reading a device emits. */
export interface Reading {
  celsius: number;
  humidity: number;
}

/** What the devices service knows about one device: aggregates of its readings. */
export interface DeviceSummary {
  deviceId: string;
  readings: number;
  minCelsius: number;
  maxCelsius: number;
  avgCelsius: number;
  lastHumidity: number;
  state: DeviceState;
}

export type DeviceState = 'online' | 'rebooting';

/** Body of the retained `devices/<id>/status` message. */
export interface DeviceStatus {
  deviceId: string;
  state: DeviceState;
  since: string;
}

/** Request of `devices/<id>/commands/reboot`. */
export interface RebootRequest {
  reason: string;
}

/** Response of `devices/<id>/commands/reboot`. */
export interface RebootAccepted {
  deviceId: string;
  accepted: true;
  reason: string;
}

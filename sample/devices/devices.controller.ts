import { Controller, Logger } from '@nestjs/common';
import { Ctx, Payload, RpcException } from '@nestjs/microservices';
import { Mqtt5Context, Mqtt5EventPattern, Mqtt5MessagePattern } from '../../lib/index.js';
import { traceSuffix } from '../tracing.js';
import type { DeviceSummary, Reading, RebootAccepted, RebootRequest } from './device.types.js';
import { StatusPublisher } from './status.publisher.js';
import { TelemetryStore } from './telemetry.store.js';

function isReading(value: unknown): value is Reading {
  const r = value as Partial<Reading> | null;
  return typeof r === 'object' && r !== null && typeof r.celsius === 'number' && typeof r.humidity === 'number';
}

/** The device service: aggregates telemetry events and answers command requests. */
@Controller()
export class DevicesController {
  private readonly logger = new Logger('Devices');

  constructor(
    private readonly store: TelemetryStore,
    private readonly status: StatusPublisher,
  ) {}

  /** Every device's readings; `+` matches the device id, read back with `ctx.getWildcards()`. */
  @Mqtt5EventPattern('devices/+/telemetry', { qos: 1 })
  async onTelemetry(@Payload() reading: unknown, @Ctx() ctx: Mqtt5Context): Promise<void> {
    const [deviceId] = ctx.getWildcards() as [string];
    if (!isReading(reading)) {
      this.logger.warn(`telemetry ${deviceId}: ignored malformed reading ${JSON.stringify(reading)}`);
      return;
    }
    const isNew = this.store.add(deviceId, reading);
    this.logger.log(`telemetry ${deviceId}: ${reading.celsius} °C, ${reading.humidity} % humidity (QoS ${ctx.getQoS()})`);
    if (isNew) await this.status.publish(deviceId, 'online');
  }

  /** Request/response: the aggregate of a device, or an RpcException the caller receives as an error. */
  @Mqtt5MessagePattern('devices/+/commands/status')
  getStatus(@Ctx() ctx: Mqtt5Context): DeviceSummary {
    const [deviceId] = ctx.getWildcards() as [string];
    const summary = this.store.summary(deviceId);
    if (summary === undefined) {
      this.logger.warn(`status ${deviceId}: unknown device`);
      throw new RpcException({ code: 'UNKNOWN_DEVICE', message: `unknown device ${deviceId}` });
    }
    this.logger.log(`status ${deviceId}: answering ${summary.readings} readings, avg ${summary.avgCelsius} °C${traceSuffix(ctx)}`);
    return summary;
  }

  @Mqtt5MessagePattern('devices/+/commands/reboot')
  async reboot(@Payload() request: RebootRequest, @Ctx() ctx: Mqtt5Context): Promise<RebootAccepted> {
    const [deviceId] = ctx.getWildcards() as [string];
    if (this.store.summary(deviceId) === undefined) {
      throw new RpcException({ code: 'UNKNOWN_DEVICE', message: `unknown device ${deviceId}` });
    }
    this.logger.log(`reboot ${deviceId}: accepted (${request.reason})${traceSuffix(ctx)}`);
    this.store.setState(deviceId, 'rebooting');
    await this.status.publish(deviceId, 'rebooting');
    return { deviceId, accepted: true, reason: request.reason };
  }
}

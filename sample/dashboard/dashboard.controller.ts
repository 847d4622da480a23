import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Mqtt5Context, Mqtt5EventPattern } from '../../lib/index.js';
import type { DeviceStatus } from '../devices/device.types.js';
import { DemoProgress } from '../demo/progress.js';

/**
 * A dashboard that starts after the devices reported in: the retained `devices/<id>/status`
 * messages reach it the moment it subscribes (ctx.isRetained() is then true).
 */
@Controller()
export class DashboardController {
  private readonly logger = new Logger('Dashboard');

  constructor(@Inject(DemoProgress) private readonly progress: DemoProgress) {}

  @Mqtt5EventPattern('devices/+/status', { qos: 1 })
  onStatus(@Payload() status: DeviceStatus, @Ctx() ctx: Mqtt5Context): void {
    const origin = ctx.isRetained() ? 'retained, sent on subscribe' : 'live';
    this.logger.log(`${status.deviceId} is ${status.state} since ${status.since.slice(11, 19)} (${origin})`);
    this.progress.statusSeen(status.deviceId, status.state, ctx.isRetained());
  }
}

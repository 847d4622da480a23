import { Inject, Injectable, Logger } from '@nestjs/common';
import { lastValueFrom } from 'rxjs';
import { ClientMqtt5, Mqtt5RecordBuilder } from '../../lib/index.js';
import { Topics, type DeviceState, type DeviceStatus } from './device.types.js';

/** Injection token of the devices service's own ClientMqtt5 (for publishing, not for requests). */
export const STATUS_CLIENT = 'STATUS_CLIENT';

/**
 * Publishes each device's state as a retained message on `devices/<id>/status`: the broker keeps
 * the last one per topic and hands it to every new subscriber at once, so a dashboard that starts
 * later still knows every device's state without asking.
 */
@Injectable()
export class StatusPublisher {
  private readonly logger = new Logger('Devices');

  constructor(@Inject(STATUS_CLIENT) private readonly client: ClientMqtt5) {}

  async publish(deviceId: string, state: DeviceState): Promise<void> {
    const status: DeviceStatus = { deviceId, state, since: new Date().toISOString() };
    const record = new Mqtt5RecordBuilder(status).setQoS(1).setRetain(true).setContentType('application/json').build();
    // emit() resolves once the broker acknowledged the message (QoS 1 PUBACK).
    await lastValueFrom(this.client.emit(Topics.status(deviceId), record), { defaultValue: undefined });
    this.logger.log(`status ${deviceId} → ${state} (retained)`);
  }
}

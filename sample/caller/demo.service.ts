import { Inject, Injectable, Logger } from '@nestjs/common';
import { lastValueFrom } from 'rxjs';
import { ClientMqtt5, Mqtt5RecordBuilder } from '../../lib/index.js';
import { Topics, type DeviceSummary, type Reading, type RebootAccepted, type RebootRequest } from '../devices/device.types.js';
import type { Job, JobResult } from '../workers/jobs.controller.js';

/** Injection token of the caller's ClientMqtt5. */
export const DEVICES_CLIENT = 'DEVICES_CLIENT';

/** Readings the demo devices send. */
const READINGS: Record<string, Reading[]> = {
  'dev-1': [
    { celsius: 21.4, humidity: 40 },
    { celsius: 21.9, humidity: 41 },
    { celsius: 22.5, humidity: 43 },
  ],
  'dev-2': [
    { celsius: 18.2, humidity: 55 },
    { celsius: 18.0, humidity: 56 },
  ],
};

/** What the demo scenario did, for main.ts to report. */
export interface DemoReport {
  summaries: DeviceSummary[];
  jobsByWorker: Record<string, number[]>;
}

/** The caller's side of the demo: events (emit), requests (send), errors, and the worker group. */
@Injectable()
export class DemoService {
  private readonly logger = new Logger('Caller');

  constructor(@Inject(DEVICES_CLIENT) private readonly client: ClientMqtt5) {}

  async run(): Promise<DemoReport> {
    await this.client.connect();
    await this.sendTelemetry();
    const summaries = [await this.askStatus('dev-1'), await this.askStatus('dev-2')];
    await this.askUnknownDevice('dev-9');
    await this.reboot('dev-2', { reason: 'firmware 2.1.0' });
    const jobsByWorker = await this.dispatchJobs(6);
    return { summaries, jobsByWorker };
  }

  /** Events: fire-and-forget, QoS 1 (emit() completes on the broker's PUBACK). */
  private async sendTelemetry(): Promise<void> {
    for (const [deviceId, readings] of Object.entries(READINGS)) {
      for (const reading of readings) {
        this.logger.log(`→ emit ${Topics.telemetry(deviceId)} ${JSON.stringify(reading)}`);
        await lastValueFrom(this.client.emit(Topics.telemetry(deviceId), reading), { defaultValue: undefined });
      }
    }
  }

  /** Request/response: send() publishes with a response topic and correlation data and waits for the answer. */
  private async askStatus(deviceId: string): Promise<DeviceSummary> {
    this.logger.log(`→ send ${Topics.command(deviceId, 'status')}`);
    const summary = await lastValueFrom(this.client.send<DeviceSummary>(Topics.command(deviceId, 'status'), {}));
    this.logger.log(`← ${deviceId}: ${summary.readings} readings, ${summary.minCelsius}–${summary.maxCelsius} °C, avg ${summary.avgCelsius} °C`);
    return summary;
  }

  /** An RpcException thrown by the handler arrives here as the observable's error. */
  private async askUnknownDevice(deviceId: string): Promise<void> {
    this.logger.log(`→ send ${Topics.command(deviceId, 'status')}`);
    try {
      await lastValueFrom(this.client.send(Topics.command(deviceId, 'status'), {}));
      throw new Error(`${deviceId} should be unknown`);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code !== 'UNKNOWN_DEVICE') throw err;
      this.logger.log(`← error ${e.code}: ${e.message}`);
    }
  }

  /** A request with per-message options: QoS 2 and a user property, through a record. */
  private async reboot(deviceId: string, request: RebootRequest): Promise<void> {
    this.logger.log(`→ send ${Topics.command(deviceId, 'reboot')} (QoS 2)`);
    const record = new Mqtt5RecordBuilder(request).setQoS(2).addUserProperty('requested-by', 'operator').build();
    const answer = await lastValueFrom(this.client.send<RebootAccepted>(Topics.command(deviceId, 'reboot'), record));
    this.logger.log(`← reboot of ${answer.deviceId} accepted`);
  }

  /** Jobs go to the shared group: each one is answered by exactly one worker. */
  private async dispatchJobs(count: number): Promise<Record<string, number[]>> {
    this.logger.log(`→ send ${count} jobs to jobs/thumbnail (shared group "workers")`);
    const jobs: Job[] = Array.from({ length: count }, (_, i) => ({ id: i + 1, image: `photo-${i + 1}.jpg` }));
    const results = await Promise.all(jobs.map((job) => lastValueFrom(this.client.send<JobResult>('jobs/thumbnail', job))));
    const byWorker: Record<string, number[]> = {};
    for (const r of results) (byWorker[r.worker] ??= []).push(r.id);
    for (const [worker, ids] of Object.entries(byWorker).sort()) {
      this.logger.log(`← ${worker} rendered jobs ${ids.sort((a, b) => a - b).join(', ')}`);
    }
    return byWorker;
  }
}

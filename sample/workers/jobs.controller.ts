import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { setTimeout as delay } from 'node:timers/promises';
import { Mqtt5Context, Mqtt5MessagePattern } from '../../lib/index.js';
import { traceSuffix } from '../tracing.js';

/** Injection token of this worker instance's name. */
export const WORKER_NAME = 'WORKER_NAME';

/** A thumbnail job, and what a worker answers. */
export interface Job {
  id: number;
  image: string;
}
export interface JobResult {
  id: number;
  worker: string;
  thumbnail: string;
}

/**
 * A worker of the `workers` group. Every instance subscribes `$share/workers/jobs/+`, so the broker
 * hands each job to exactly one of them: start more instances (here or on other machines) to
 * spread the load, with no coordination between them.
 */
@Controller()
export class JobsController {
  private readonly logger: Logger;

  constructor(@Inject(WORKER_NAME) private readonly name: string) {
    this.logger = new Logger(name);
  }

  @Mqtt5MessagePattern('jobs/+', { share: 'workers', qos: 1 })
  async render(@Payload() job: Job, @Ctx() ctx: Mqtt5Context): Promise<JobResult> {
    const [kind] = ctx.getWildcards() as [string];
    this.logger.log(`job ${job.id}: ${kind} of ${job.image} (via ${ctx.getSubscription()})${traceSuffix(ctx)}`);
    await delay(10 + job.id * 3); // stands for real work
    return { id: job.id, worker: this.name, thumbnail: `${job.image.replace(/\.\w+$/, '')}-128.webp` };
  }
}

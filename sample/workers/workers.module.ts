import { Module, type DynamicModule } from '@nestjs/common';
import { JobsController, WORKER_NAME } from './jobs.controller.js';

/** One worker instance of the shared `workers` group. */
@Module({})
export class WorkersModule {
  static forRoot(name: string): DynamicModule {
    return { module: WorkersModule, controllers: [JobsController], providers: [{ provide: WORKER_NAME, useValue: name }] };
  }
}

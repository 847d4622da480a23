import { Module, type DynamicModule } from '@nestjs/common';
import { DemoProgress } from '../demo/progress.js';
import { DashboardController } from './dashboard.controller.js';

/** The dashboard microservice (status topics only). */
@Module({})
export class DashboardModule {
  static forRoot(progress: DemoProgress): DynamicModule {
    return { module: DashboardModule, controllers: [DashboardController], providers: [{ provide: DemoProgress, useValue: progress }] };
  }
}

import { Module, type DynamicModule } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { ClientMqtt5 } from '../../lib/index.js';
import { DevicesController } from './devices.controller.js';
import { STATUS_CLIENT, StatusPublisher } from './status.publisher.js';
import { TelemetryStore } from './telemetry.store.js';

/** The devices microservice: telemetry, commands, and the retained status of each device. */
@Module({})
export class DevicesModule {
  static forRoot(url: string, clientId: string): DynamicModule {
    return {
      module: DevicesModule,
      imports: [
        ClientsModule.register([{ name: STATUS_CLIENT, customClass: ClientMqtt5, options: { url, clientId: `${clientId}-publisher` } }]),
      ],
      controllers: [DevicesController],
      providers: [TelemetryStore, StatusPublisher],
    };
  }
}

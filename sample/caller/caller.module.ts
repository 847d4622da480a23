import { Module, type DynamicModule } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { ClientMqtt5 } from '../../lib/index.js';
import { DemoService, DEVICES_CLIENT } from './demo.service.js';

/** The caller application: a ClientMqtt5 registered the Nest way, and the demo scenario. */
@Module({})
export class CallerModule {
  static forRoot(url: string, clientId: string): DynamicModule {
    return {
      module: CallerModule,
      imports: [
        ClientsModule.register([
          {
            name: DEVICES_CLIENT,
            customClass: ClientMqtt5,
            // Requests fail after 5 s instead of hanging when nobody answers.
            options: { url, clientId, requestTimeout: 5000, userProperties: { app: 'sample-caller' } },
          },
        ]),
      ],
      providers: [DemoService],
    };
  }
}

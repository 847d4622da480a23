import { Injectable, Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { MqttBroker, MqttBrokerModule } from '../../lib/index.js';

/** Logs who connects to the embedded broker, so the sample shows its participants arriving and leaving. */
@Injectable()
class BrokerActivityLog implements OnApplicationBootstrap {
  private readonly logger = new Logger('Broker');

  constructor(private readonly broker: MqttBroker) {}

  onApplicationBootstrap(): void {
    this.broker.on('connect', (client) => this.logger.log(`client ${client.clientId} connected`));
    this.broker.on('disconnect', (client, info) => {
      if (info.initiator !== 'client') this.logger.log(`client ${client.clientId} gone (${info.initiator})`);
    });
  }
}

/** The embedded broker as a Nest application of its own (it could equally live inside the service). */
@Module({})
export class BrokerAppModule {
  static forRoot(port: number): DynamicModule {
    return {
      module: BrokerAppModule,
      imports: [MqttBrokerModule.forRoot({ listen: { tcp: { host: '127.0.0.1', port } } })],
      providers: [BrokerActivityLog],
    };
  }
}

import {
  Inject,
  Logger,
  Module,
  type DynamicModule,
  type FactoryProvider,
  type InjectionToken,
  type ModuleMetadata,
  type OnApplicationShutdown,
  type OptionalFactoryDependency,
  type Provider,
  type Type,
} from '@nestjs/common';
import { MqttBroker, type ListenAddresses, type ListenOptions, type MqttBrokerOptions } from '../broker/index.js';

/** What `MqttBroker#listen()` takes: `{ tcp?, tls?, ws?, wss? }` listener options (port 0 = ephemeral). */
export type MqttBrokerListenOptions = ListenOptions;
/** What `MqttBroker#listen()` resolves with: the bound addresses. */
export type MqttBrokerListenResult = ListenAddresses;

/** Options of {@link MqttBrokerModule.forRoot}. */
export interface MqttBrokerModuleOptions {
  /** Broker options: limits, hooks, stores, and `persistence: { dir }` (opened and restored before listening). */
  broker?: MqttBrokerOptions;
  /** Listeners to open. Default `{ tcp: { port: 1883, host: '127.0.0.1' } }`; port 0 picks a free port. */
  listen?: MqttBrokerListenOptions;
}

/** Options of {@link MqttBrokerModule.forRootAsync}: a factory, a class or an existing provider. */
export interface MqttBrokerModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory?: (...args: any[]) => MqttBrokerModuleOptions | Promise<MqttBrokerModuleOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useClass?: Type<MqttBrokerOptionsFactory>;
  useExisting?: Type<MqttBrokerOptionsFactory>;
  /** Extra providers the factory or class needs. */
  extraProviders?: Provider[];
}

/** Implemented by a class given as `useClass`/`useExisting` to `forRootAsync`. */
export interface MqttBrokerOptionsFactory {
  createMqttBrokerOptions(): MqttBrokerModuleOptions | Promise<MqttBrokerModuleOptions>;
}

/** Injection token of the resolved {@link MqttBrokerModuleOptions}. */
export const MQTT_BROKER_MODULE_OPTIONS = Symbol('MQTT_BROKER_MODULE_OPTIONS');

/**
 * The addresses the embedded broker listens on, injectable — with port 0 this is how a test (or a
 * microservice factory) finds the port.
 */
export class MqttBrokerAddress {
  constructor(
    /** What `listen()` returned. */
    readonly listeners: MqttBrokerListenResult,
    /** URL of the TCP listener (`mqtt://host:port`), else of TLS, WebSocket, secure WebSocket. */
    readonly url: string,
    /** Port of `url`. */
    readonly port: number,
  ) {}
}

const DEFAULT_LISTEN: MqttBrokerListenOptions = { tcp: { port: 1883, host: '127.0.0.1' } };

/** The started broker and what its listeners bound (internal provider). */
interface BrokerHandle {
  broker: MqttBroker;
  listeners: MqttBrokerListenResult;
}
const BROKER_HANDLE = Symbol('MQTT_BROKER_HANDLE');

/** Starts a broker and listens; the broker is closed again if listening fails. */
async function startBroker(options: MqttBrokerModuleOptions): Promise<BrokerHandle> {
  const broker = new MqttBroker(options.broker ?? {});
  try {
    const listeners = await broker.listen(options.listen ?? DEFAULT_LISTEN);
    return { broker, listeners };
  } catch (err) {
    await broker.close();
    throw err;
  }
}

/**
 * Runs our MQTT v5 broker inside a Nest application: it starts while the application is
 * created (so other providers, ClientsModule factories and microservice factories can inject
 * its address) and closes on application shutdown (`app.close()`). Global by default.
 *
 * @example
 * ```ts
 * @Module({ imports: [MqttBrokerModule.forRoot({ listen: { tcp: { port: 0, host: '127.0.0.1' } } })] })
 * class AppModule {}
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   inject: [MqttBrokerAddress],
 *   useFactory: (broker: MqttBrokerAddress) => ({ strategy: new ServerMqtt5({ url: broker.url }) }),
 * });
 * ```
 */
@Module({})
export class MqttBrokerModule implements OnApplicationShutdown {
  private readonly logger = new Logger('MqttBrokerModule');

  constructor(@Inject(BROKER_HANDLE) private readonly handle: BrokerHandle) {}

  /** Starts a broker with these options. */
  static forRoot(options: MqttBrokerModuleOptions = {}): DynamicModule {
    return MqttBrokerModule.build([{ provide: MQTT_BROKER_MODULE_OPTIONS, useValue: options }], []);
  }

  /** Starts a broker with options from a factory (e.g. from `ConfigService`), a class or an existing provider. */
  static forRootAsync(options: MqttBrokerModuleAsyncOptions): DynamicModule {
    const providers: Provider[] = [...(options.extraProviders ?? [])];
    if (options.useFactory) {
      providers.push({
        provide: MQTT_BROKER_MODULE_OPTIONS,
        useFactory: options.useFactory,
        inject: options.inject ?? [],
      });
    } else {
      const factoryClass = options.useExisting ?? options.useClass;
      if (!factoryClass) throw new TypeError('MqttBrokerModule.forRootAsync needs useFactory, useClass or useExisting');
      if (options.useClass) providers.push({ provide: options.useClass, useClass: options.useClass });
      providers.push({
        provide: MQTT_BROKER_MODULE_OPTIONS,
        useFactory: (factory: MqttBrokerOptionsFactory) => factory.createMqttBrokerOptions(),
        inject: [factoryClass],
      });
    }
    return MqttBrokerModule.build(providers, options.imports ?? []);
  }

  private static build(optionProviders: Provider[], imports: ModuleMetadata['imports']): DynamicModule {
    const handleProvider: FactoryProvider<Promise<BrokerHandle>> = {
      provide: BROKER_HANDLE,
      useFactory: (options: MqttBrokerModuleOptions) => startBroker(options),
      inject: [MQTT_BROKER_MODULE_OPTIONS],
    };
    const brokerProvider: FactoryProvider<MqttBroker> = {
      provide: MqttBroker,
      useFactory: (handle: BrokerHandle) => handle.broker,
      inject: [BROKER_HANDLE],
    };
    const addressProvider: FactoryProvider<MqttBrokerAddress> = {
      provide: MqttBrokerAddress,
      useFactory: (handle: BrokerHandle) => addressOf(handle.listeners),
      inject: [BROKER_HANDLE],
    };
    return {
      module: MqttBrokerModule,
      global: true,
      imports,
      providers: [...optionProviders, handleProvider, brokerProvider, addressProvider],
      exports: [MqttBroker, MqttBrokerAddress, MQTT_BROKER_MODULE_OPTIONS],
    };
  }

  /** Closes the broker: clients get DISCONNECT 0x8B (server shutting down), sockets and timers are freed. */
  async onApplicationShutdown(): Promise<void> {
    try {
      await this.handle.broker.close();
    } catch (err) {
      this.logger.error(err);
    }
  }
}

/** The injectable address of the listeners `listen()` bound. */
function addressOf(listeners: MqttBrokerListenResult): MqttBrokerAddress {
  const first = listeners.tcp ?? listeners.tls ?? listeners.ws ?? listeners.wss;
  if (!first) throw new TypeError('The broker has no open listener');
  return new MqttBrokerAddress(listeners, first.url, first.port);
}

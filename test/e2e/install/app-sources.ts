/**
 * The throwaway application of the install test, as a user would write it after reading the
 * README: a Nest 12 ESM project (package.json "type": "module", the tsconfig `nest new` generates)
 * with a microservice on ServerMqtt5, a caller registered with
 * `ClientsModule.register([{ name, customClass: ClientMqtt5, options }])`, and MqttBrokerModule as
 * the broker. Kept as text: it compiles against the installed tarball, not against lib/.
 */

/** Nest versions of the app: older minors than the ones this repository develops against. */
export const APP_NEST_VERSIONS = {
  '@nestjs/common': '12.3.3',
  '@nestjs/core': '12.3.3',
  '@nestjs/microservices': '12.0.4',
} as const;

/** The app's package.json; `tarball` is the file name of the packed nest-mqtt5 next to it. */
export function appPackageJson(tarball: string): string {
  return JSON.stringify(
    {
      name: 'nest-mqtt5-install-check',
      version: '0.0.0',
      private: true,
      type: 'module',
      scripts: { build: 'tsc -p tsconfig.json', start: 'node dist/main.js' },
      dependencies: {
        ...APP_NEST_VERSIONS,
        'nest-mqtt5': `file:./${tarball}`,
        'reflect-metadata': '^0.2.2',
        rxjs: '^7.8.2',
      },
      devDependencies: { '@types/node': '^20.19.0', typescript: '~6.0.3' },
    },
    null,
    2,
  );
}

/** The tsconfig of a Nest 12 ESM project (`nest new`), with Node types listed as TypeScript 6 wants. */
export const APP_TSCONFIG = JSON.stringify(
  {
    compilerOptions: {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      resolvePackageJsonExports: true,
      esModuleInterop: true,
      isolatedModules: true,
      declaration: true,
      removeComments: true,
      emitDecoratorMetadata: true,
      experimentalDecorators: true,
      allowSyntheticDefaultImports: true,
      target: 'ES2023',
      sourceMap: true,
      outDir: './dist',
      rootDir: './src',
      incremental: true,
      skipLibCheck: true,
      strictNullChecks: true,
      forceConsistentCasingInFileNames: true,
      noImplicitAny: false,
      strictBindCallApply: false,
      noFallthroughCasesInSwitch: false,
      types: ['node'],
    },
    include: ['src'],
  },
  null,
  2,
);

/** The microservice's controller: one request handler, one event handler, one RpcException. */
export const APP_CONTROLLER = `import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { Mqtt5Context } from 'nest-mqtt5';

export const received: { resolve?: (event: { data: unknown; topic: string }) => void } = {};

@Controller()
export class MathController {
  @MessagePattern('math/sum')
  sum(@Payload() numbers: number[]): number {
    if (!Array.isArray(numbers)) throw new RpcException('expected an array');
    return numbers.reduce((a, b) => a + b, 0);
  }

  // <string>: Nest 12's typings want the pattern type spelled when the handler takes a typed @Ctx() (see the README).
  @EventPattern<string>('devices/+/telemetry')
  telemetry(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    received.resolve?.({ data, topic: ctx.getTopic() });
  }
}
`;

/** Starts broker + microservice, then a caller; prints one RESULT line of JSON and exits 0, or exits 1. */
export const APP_MAIN = `import 'reflect-metadata';
import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, type AsyncMicroserviceOptions } from '@nestjs/microservices';
import { ClientMqtt5, MqttBrokerAddress, MqttBrokerModule, ServerMqtt5 } from 'nest-mqtt5';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { MathController, received } from './math.controller.js';

@Module({
  imports: [MqttBrokerModule.forRoot({ listen: { tcp: { port: 0, host: '127.0.0.1' } } })],
  controllers: [MathController],
})
class ServiceModule {}

@Injectable()
class Caller {
  constructor(@Inject('MATH') private readonly math: ClientMqtt5) {}

  async run() {
    const sum = await firstValueFrom(this.math.send<number>('math/sum', [1, 2, 3]));
    const error = await firstValueFrom(this.math.send('math/sum', 'oops')).catch((err: unknown) => err);
    const event = new Promise<{ data: unknown; topic: string }>((resolve) => (received.resolve = resolve));
    const emitted = await lastValueFrom(this.math.emit('devices/d7/telemetry', { celsius: 21.5 }).pipe(toArray()));
    return { sum, error, emitted: emitted.map((v) => (v === undefined ? 'undefined' : v)), event: await event };
  }
}

@Module({})
class CallerModule {
  static connectTo(url: string): DynamicModule {
    return {
      module: CallerModule,
      imports: [ClientsModule.register([{ name: 'MATH', customClass: ClientMqtt5, options: { url, requestTimeout: 10_000 } }])],
      providers: [Caller],
    };
  }
}

async function main(): Promise<void> {
  const timer = setTimeout(() => {
    console.error('timed out');
    process.exit(1);
  }, 60_000);
  const service = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(ServiceModule, {
    inject: [MqttBrokerAddress],
    useFactory: (broker: MqttBrokerAddress) => ({ strategy: new ServerMqtt5({ url: broker.url }) }),
    logger: ['error', 'warn'],
  });
  await service.listen();
  const url = service.get(MqttBrokerAddress).url;
  const caller = await NestFactory.createApplicationContext(CallerModule.connectTo(url), { logger: ['error', 'warn'] });
  try {
    console.log('RESULT ' + JSON.stringify({ url, ...(await caller.get(Caller).run()) }));
  } finally {
    await caller.close();
    await service.close();
    clearTimeout(timer);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

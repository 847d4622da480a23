/**
 * The README's custom serializer example ("Custom serializers and deserializers"), run end to end:
 * the block is taken from README.md as written (its `nest-mqtt5` imports pointed at lib/), its
 * controller served by ServerMqtt5 and called by ClientMqtt5 with the example's serializer pair,
 * on the embedded broker — binary on the wire with the content type, objects at both ends.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import type { MqttClient, MqttMessage } from '../../../lib/client/index.js';
import type { ClientMqtt5, Mqtt5Deserializer, Mqtt5Serializer } from '../../../lib/nest/index.js';
import { ROOT } from '../../helpers/build.js';
import { deferred, withTimeout } from '../../helpers/wait.js';
import { closeAll, rawClient, startCaller, startEmbeddedBroker, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from './helpers.js';

/** Inside the repository (so lib/ resolves) and git-ignored (`/tmp/`). */
const WORK = path.join(ROOT, 'tmp', `readme-serializer-${process.pid}`);

interface Example {
  Reading: new (sensorId: number, celsius: number, takenAt: Date) => { sensorId: number; celsius: number; takenAt: Date };
  READING_TYPE: string;
  ReadingSerializer: new () => Mqtt5Serializer;
  ReadingDeserializer: new () => Mqtt5Deserializer;
  ReadingsController: new () => object;
}

/** The ```ts block of the README that defines ReadingSerializer, imports rewritten to the sources. */
async function loadExample(): Promise<Example> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const block = blocks.filter((b) => b.includes('class ReadingSerializer'));
  expect(block).toHaveLength(1);
  const lib = path.relative(WORK, path.join(ROOT, 'lib')).split(path.sep).join('/');
  const code = block[0]!.replace(/from 'nest-mqtt5'/g, `from '${lib}/index.js'`);
  expect(code).not.toContain("'nest-mqtt5");
  await mkdir(WORK, { recursive: true });
  const file = path.join(WORK, 'serializer-example.ts');
  await writeFile(file, code);
  return (await import(pathToFileURL(file).href)) as Example;
}

let example: Example;
let broker: TestBroker;
let service: TestMicroservice;
let caller: TestCaller;
let raw: MqttClient;

beforeAll(async () => {
  example = await loadExample();
  broker = await startEmbeddedBroker();
  const codec = () => ({ serializer: new example.ReadingSerializer(), deserializer: new example.ReadingDeserializer() });
  service = await startMicroservice([example.ReadingsController], { url: broker.url, ...codec() });
  caller = await startCaller({ url: broker.url, requestTimeout: 5000, ...codec() });
  raw = await rawClient(broker.url, 'readme-serializer-inspector');
}, 60_000);

afterAll(async () => {
  await closeAll(caller, service, raw && (() => raw.disconnect()), broker && (() => broker.stop()));
  await rm(WORK, { recursive: true, force: true });
});

describe('the README custom serializer example', () => {
  it('sends a Reading as 16 bytes with its content type and gets a Reading back', async () => {
    const seen = deferred<MqttMessage>();
    await raw.subscribe({ subscriptions: [{ topicFilter: 'readings/fahrenheit', qos: 1 }] }, (m) => seen.resolve(m));
    const takenAt = new Date(1_790_000_000_000);
    const answer = await firstValueFrom((caller.client as ClientMqtt5).send('readings/fahrenheit', new example.Reading(7, 21.5, takenAt)));
    expect(answer).toBeInstanceOf(example.Reading);
    expect(answer).toEqual(new example.Reading(7, 70.7, takenAt));
    // On the wire: the binary layout, described by the content type — not JSON.
    const wire = await withTimeout(seen.promise, 5000, 'the request on the wire');
    expect(wire.properties?.contentType).toBe(example.READING_TYPE);
    expect(wire.payload.length).toBe(16);
    expect(wire.payload.readUInt32BE(0)).toBe(7);
    expect(wire.payload.readDoubleBE(4)).toBe(21.5);
  });

  it('delivers an emitted Reading to the event handler as a Reading', async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const logged = new Promise<unknown[]>((resolve) => log.mockImplementation((...args: unknown[]) => resolve(args)));
      const values = await lastValueFrom(caller.client.emit('readings/live', new example.Reading(3, -4.25, new Date(1_790_000_000_000))).pipe(toArray()));
      expect(values).toEqual([undefined]);
      expect(await withTimeout(logged, 5000, 'the event handler')).toEqual([`sensor 3: -4.25 °C at ${new Date(1_790_000_000_000).toISOString()}`]);
    } finally {
      log.mockRestore();
    }
  });

  it('keeps other data JSON, and keeps a malformed reading from the handler', async () => {
    const seen = deferred<MqttMessage>();
    await raw.subscribe({ subscriptions: [{ topicFilter: 'readings/json', qos: 1 }] }, (m) => seen.resolve(m));
    await lastValueFrom(caller.client.emit('readings/json', { note: 'plain' }).pipe(toArray()));
    const wire = await withTimeout(seen.promise, 5000, 'the JSON event');
    expect(JSON.parse(wire.payload.toString())).toEqual({ note: 'plain' });
    expect(wire.properties?.contentType).toBeUndefined();
    // 15 bytes claiming to be a reading: the deserializer throws, so the handler never sees it —
    // the next (valid) reading is the first thing it logs.
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const logged = new Promise<unknown[]>((resolve) => log.mockImplementation((...args: unknown[]) => resolve(args)));
      await raw.publish({ topic: 'readings/live', payload: Buffer.alloc(15), qos: 1, properties: { contentType: example.READING_TYPE } });
      await lastValueFrom(caller.client.emit('readings/live', new example.Reading(9, 1, new Date(0))).pipe(toArray()));
      expect(await withTimeout(logged, 5000, 'the event handler')).toEqual([`sensor 9: 1 °C at ${new Date(0).toISOString()}`]);
    } finally {
      log.mockRestore();
    }
  });
});

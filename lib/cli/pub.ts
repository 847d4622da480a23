/**
 * `nest-mqtt5 pub <topic> <qos> [message]`: publishes one message and exits once the broker has
 * acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2) — the seed's `client-pub` example, plus
 * retain, v5 properties, and the message from stdin or a file.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PublishError, type PublishProperties } from '../client/index.js';
import type { QoS, UserProperty } from '../codec/index.js';
import { addClientOptions, createClient, type ClientCliOptions } from './client-options.js';
import { CliError, formatReason, formatReasonCode, TimeoutError, UsageError } from './errors.js';
import { collectUserProperty, integerIn, parseQos, parseTopicName } from './parse.js';
import { Deadline, ShutdownSignal } from './runtime.js';

/** Options of `pub` on top of the shared client options. */
export interface PubCliOptions extends ClientCliOptions {
  retain?: boolean;
  userProperty?: UserProperty[];
  contentType?: string;
  messageExpiry?: number;
  responseTopic?: string;
  correlationData?: string;
  utf8?: boolean;
  stdin?: boolean;
  file?: string;
  verbose?: boolean;
}

const EXAMPLES = `
Examples:
  $ nest-mqtt5 pub -b mqtt://127.0.0.1:1883 TEST/GREETING 1 "Willkommen"
  $ nest-mqtt5 pub -b mqtt://127.0.0.1:1883 devices/7/status 1 online --retain
  $ nest-mqtt5 pub -b mqtt://127.0.0.1:1883 devices/7/status 0 "" --retain      (clears the retained message)
  $ nest-mqtt5 pub -b mqtt://127.0.0.1:1883 jobs/new 2 --file job.json --content-type application/json \\
      --user-property tenant=acme --message-expiry 60
  $ echo '{"t":21.5}' | nest-mqtt5 pub -b mqtt://127.0.0.1:1883 devices/7/telemetry 1 --stdin`;

/** Registers the `pub` command. */
export function registerPub(program: Command): void {
  const command = program
    .command('pub')
    .description('publish one message and wait for its acknowledgement')
    .argument('<topic>', 'topic name (no wildcards)', parseTopicName)
    .argument('<qos>', 'QoS: 0, 1 or 2', parseQos)
    .argument('[message]', 'payload text (or use --stdin / --file; "" for an empty payload)')
    .option('-r, --retain', 'retain the message (an empty retained message clears the topic)')
    .option('--user-property <name=value>', 'user property, repeatable (order and duplicates kept)', collectUserProperty)
    .option('--content-type <type>', 'content type, e.g. application/json')
    .option('--message-expiry <seconds>', 'message expiry interval', integerIn(0, 0xffff_ffff))
    .option('--response-topic <topic>', 'response topic, for request/response', parseTopicName)
    .option('--correlation-data <text>', 'correlation data (UTF-8 text)')
    .option('--utf8', 'set the payload format indicator: the payload is UTF-8 text')
    .option('--stdin', 'read the payload from stdin (all of it, as one message)')
    .option('-f, --file <path>', 'read the payload from a file')
    .option('-v, --verbose', 'print the acknowledgement');
  addClientOptions(command, {
    reconnecting: false,
    timeoutHelp: 'fail when connecting and publishing together take longer (default: 30 s to connect, then no limit)',
  })
    .addHelpText('after', EXAMPLES)
    .action((topic: string, qos: QoS, message: string | undefined, options: PubCliOptions) =>
      runPub(topic, qos, message, options),
    );
}

/** The payload from exactly one of: the argument, `--stdin`, `--file`. */
async function readPayload(message: string | undefined, o: PubCliOptions): Promise<Buffer> {
  const sources = Number(message !== undefined) + Number(o.stdin === true) + Number(o.file !== undefined);
  if (sources === 0) throw new UsageError('No message: give it as an argument, or use --stdin or --file ("" sends an empty payload).');
  if (sources > 1) throw new UsageError('Give the message one way only: as an argument, with --stdin, or with --file.');
  if (message !== undefined) return Buffer.from(message, 'utf8');
  if (o.file !== undefined) {
    try {
      return await readFile(o.file);
    } catch (err) {
      throw new UsageError(`Cannot read --file ${o.file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (process.stdin.isTTY) process.stderr.write('Reading the message from stdin; end it with Ctrl-D.\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function publishProperties(o: PubCliOptions): PublishProperties | undefined {
  const p: PublishProperties = {};
  if (o.userProperty !== undefined) p.userProperties = o.userProperty;
  if (o.contentType !== undefined) p.contentType = o.contentType;
  if (o.messageExpiry !== undefined) p.messageExpiryInterval = o.messageExpiry;
  if (o.responseTopic !== undefined) p.responseTopic = o.responseTopic;
  if (o.correlationData !== undefined) p.correlationData = Buffer.from(o.correlationData, 'utf8');
  if (o.utf8 === true) p.payloadFormatIndicator = true;
  return Object.keys(p).length === 0 ? undefined : p;
}

/** Runs `pub`: connect, publish, wait for the ack, DISCONNECT. */
export async function runPub(topic: string, qos: QoS, message: string | undefined, o: PubCliOptions): Promise<void> {
  const payload = await readPayload(message, o);
  const { client, connectOptions } = await createClient(o);
  const shutdown = new ShutdownSignal();
  const stop = (): void => {
    // disconnect() settles the pending connect/publish with ClientClosedError; the catch below reports why.
    client.disconnect().catch(() => undefined);
  };
  const deadline = new Deadline(o.timeout, stop);
  void shutdown.received.then(stop);
  let phase = 'CONNACK';
  try {
    await client.connect(connectOptions);
    phase = qos === 0 ? 'the message to be written' : qos === 1 ? 'PUBACK' : 'PUBCOMP';
    const ack = await client.publish({ topic, payload, qos, retain: o.retain === true, properties: publishProperties(o) });
    if (o.verbose === true) {
      const outcome = ack === undefined ? 'sent (QoS 0: no acknowledgement)' : `${phase}: ${formatReasonCode(ack.reasonCode ?? 0)}`;
      process.stderr.write(`published ${payload.length} bytes to ${topic}: ${outcome}\n`);
    }
    await client.disconnect();
  } catch (error) {
    if (deadline.expired) throw new TimeoutError(`Timed out after ${(deadline.ms ?? 0) / 1000} s waiting for ${phase}.`);
    if (shutdown.signal !== undefined) {
      throw new CliError(`Interrupted by ${shutdown.signal} while waiting for ${phase}; the message may not have been delivered.`);
    }
    if (error instanceof PublishError && error.ack !== undefined) {
      throw new CliError(`The broker refused the message: ${formatReason(error.reasonCode, error.ack.properties?.reasonString)}`);
    }
    throw error;
  } finally {
    deadline.clear();
    shutdown.dispose();
    await client.disconnect();
  }
}

/**
 * `nest-mqtt5 pub`: publishes one message (or, with `-l`, one per line of stdin) and exits once
 * the broker has acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2) — the seed's `client-pub`
 * example in its positional form (`pub <topic> <qos> [message]`) or with mosquitto_pub's flags
 * (`-t -q -m -f -s -l -n`), plus retain and v5 properties. A PUBACK saying 0x10 No matching
 * subscribers is a warning (exit 0, as mosquitto_pub); a refusal (≥ 0x80) an error (exit 1).
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { PublishError, type PublishProperties, type PublishResult } from '../client/index.js';
import type { QoS, UserProperty } from '../codec/index.js';
import { addClientOptions, createClient, type ClientCliOptions } from './client-options.js';
import { CliError, formatReason, formatReasonCode, TimeoutError, UsageError } from './errors.js';
import { collectUserProperty, integerIn, parseQos, parseTopicName } from './parse.js';
import { publishLines } from './pub-lines.js';
import { Deadline, ShutdownSignal } from './runtime.js';
import { resolvePubTarget, type PayloadSource, type PubTargetFlags } from './targets.js';

/** Reason code of a PUBACK saying the broker had nobody to deliver the message to. */
const RC_NO_MATCHING_SUBSCRIBERS = 0x10;

/** Options of `pub` on top of the shared client options. */
export interface PubCliOptions extends ClientCliOptions, PubTargetFlags {
  retain?: boolean;
  userProperty?: UserProperty[];
  contentType?: string;
  messageExpiry?: number;
  responseTopic?: string;
  correlationData?: string;
  utf8?: boolean;
  verbose?: boolean;
}

const EXAMPLES = `
Examples:
  $ nest-mqtt5 pub -h 127.0.0.1 -p 1883 -t TEST/GREETING -m "Willkommen" -q 1
  $ nest-mqtt5 pub -b mqtt://127.0.0.1:1883 TEST/GREETING 1 "Willkommen"
  $ nest-mqtt5 pub -t devices/7/status -m online -q 1 --retain
  $ nest-mqtt5 pub -t devices/7/status -n --retain          (clears the retained message)
  $ nest-mqtt5 pub -t jobs/new -q 2 -f job.json --content-type application/json \\
      --user-property tenant=acme --message-expiry 60
  $ echo '{"t":21.5}' | nest-mqtt5 pub -t devices/7/telemetry -q 1 -s
  $ tail -f readings.log | nest-mqtt5 pub -t devices/7/log -l       (one message per line)`;

/** Registers the `pub` command. */
export function registerPub(program: Command): void {
  const command = program
    .command('pub')
    .description('publish one message (or one per line with -l) and wait for its acknowledgement')
    .argument('[topic]', 'topic name, no wildcards (or -t)', parseTopicName)
    .argument('[qos]', 'QoS: 0, 1 or 2 (or -q; default: 0)', parseQos)
    .argument('[message]', 'payload text (or -m, -f, -s, -l, -n; "" for an empty payload)')
    .option('-t, --topic <topic>', 'topic name to publish to (no wildcards)', parseTopicName)
    .option('-m, --message <text>', 'payload text')
    .addOption(new Option('-q, --qos <qos>', 'QoS: 0, 1 or 2 (default: 0)').argParser(parseQos))
    .option('-n, --null-message', 'send an empty payload')
    .option('-f, --file <path>', 'read the payload from a file')
    .option('-s, --stdin', 'read the payload from stdin (all of it, as one message)')
    .option('-l, --stdin-line', 'publish each line of stdin as a message (blank lines skipped) until end of input')
    .option('-r, --retain', 'retain the message (an empty retained message clears the topic)')
    .option('--user-property <name=value>', 'user property, repeatable (order and duplicates kept)', collectUserProperty)
    .option('--content-type <type>', 'content type, e.g. application/json')
    .option('--message-expiry <seconds>', 'message expiry interval', integerIn(0, 0xffff_ffff))
    .option('--response-topic <topic>', 'response topic, for request/response', parseTopicName)
    .option('--correlation-data <text>', 'correlation data (UTF-8 text)')
    .option('--utf8', 'set the payload format indicator: the payload is UTF-8 text')
    .option('-v, --verbose', 'print each acknowledgement');
  addClientOptions(command, {
    reconnecting: false,
    timeoutHelp: 'fail when connecting and publishing together take longer (default: 30 s to connect, then no limit)',
  })
    .addHelpText('after', EXAMPLES)
    .action((topic: string | undefined, qos: QoS | undefined, message: string | undefined, options: PubCliOptions) =>
      runPub(topic, qos, message, options),
    );
}

/** The payload of a single-message source (`-l` streams instead). */
async function readPayload(source: Exclude<PayloadSource, { kind: 'stdin-lines' }>): Promise<Buffer> {
  switch (source.kind) {
    case 'text':
      return Buffer.from(source.text, 'utf8');
    case 'empty':
      return Buffer.alloc(0);
    case 'file':
      try {
        return await readFile(source.path);
      } catch (err) {
        throw new UsageError(`Cannot read --file ${source.path}: ${(err as Error).message}`, { cause: err });
      }
    case 'stdin': {
      if (process.stdin.isTTY) process.stderr.write('Reading the message from stdin; end it with Ctrl-D.\n');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
  }
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

/** What an acknowledgement says, on stderr: the -v line, and the 0x10 warning mosquitto_pub prints too. */
function reportAck(topic: string, qos: QoS, ack: PublishResult, bytes: number, verbose: boolean): void {
  const code = ack?.reasonCode ?? 0;
  if (verbose) {
    const outcome = ack === undefined ? 'sent (QoS 0: no acknowledgement)' : `${qos === 1 ? 'PUBACK' : 'PUBCOMP'}: ${formatReasonCode(code)}`;
    process.stderr.write(`published ${bytes} bytes to ${topic}: ${outcome}\n`);
  }
  if (ack !== undefined && code === RC_NO_MATCHING_SUBSCRIBERS) {
    process.stderr.write(`warning: ${formatReason(code, ack.properties?.reasonString)}: nobody subscribes to ${topic}, the message reached no one\n`);
  }
}

/** Runs `pub`: connect, publish (once, or per line with -l), wait for the acks, DISCONNECT. */
export async function runPub(argTopic: string | undefined, argQos: QoS | undefined, argMessage: string | undefined, o: PubCliOptions): Promise<void> {
  const { topic, qos, source } = resolvePubTarget(argTopic, argQos, argMessage, o);
  const payload = source.kind === 'stdin-lines' ? undefined : await readPayload(source);
  const { client, connectOptions } = await createClient(o);
  const shutdown = new ShutdownSignal();
  let stopped!: () => void;
  const stopping = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (): void => {
    stopped();
    // disconnect() settles the pending connect/publish with ClientClosedError; the catch below reports why.
    client.disconnect().catch(() => undefined);
  };
  const deadline = new Deadline(o.timeout, stop);
  void shutdown.received.then(stop);
  let phase = 'CONNACK';
  const base = { topic, qos, retain: o.retain === true, properties: publishProperties(o) };
  try {
    await client.connect(connectOptions);
    phase = qos === 0 ? 'the message to be written' : qos === 1 ? 'PUBACK' : 'PUBCOMP';
    if (payload !== undefined) {
      reportAck(topic, qos, await client.publish({ ...base, payload }), payload.length, o.verbose === true);
    } else {
      phase = `the end of stdin (and the ${phase} of every line)`;
      if (process.stdin.isTTY) process.stderr.write('Publishing each line of stdin; end with Ctrl-D.\n');
      await publishLines(client, process.stdin, base, (ack, bytes) => reportAck(topic, qos, ack, bytes, o.verbose === true), stopping);
      // A signal or the deadline ended the input early: report it as such below.
      if (shutdown.signal !== undefined || deadline.expired) throw new CliError('stopped');
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

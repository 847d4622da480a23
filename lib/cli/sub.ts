/**
 * `nest-mqtt5 sub`: subscribes and prints every message — the seed's `client-sub` example in its
 * positional form (`sub <filter> <qos>`) or with mosquitto_sub's flags (`-t` repeatable, `-q`) —
 * in the pull model: a MessageReceiver read with `for await`, so a slow stdout slows the broker
 * down instead of buffering. With will options it is also the seed's `client-will-msg` example.
 */
import { Option, type Command } from 'commander';
import { MessageReceiver, type MqttMessage } from '../client/index.js';
import type { QoS } from '../codec/index.js';
import { addClientOptions, createClient, type ClientCliOptions } from './client-options.js';
import { printConnectionEvents, ReconnectPolicy } from './connection-events.js';
import { CliError, formatReason, TimeoutError, UsageError } from './errors.js';
import { formatConnected, formatMessage, formatMessageJson, formatMessageVerbose } from './format.js';
import { collectTopicFilter, integerIn, parseQos, parseRetainHandling, parseTopicFilter } from './parse.js';
import { Deadline, LineWriter, ShutdownSignal } from './runtime.js';
import { resolveSubTarget, type SubTargetFlags } from './targets.js';

/** Options of `sub` on top of the shared client options. */
export interface SubCliOptions extends ClientCliOptions, SubTargetFlags {
  verbose?: boolean;
  json?: boolean;
  count?: number;
  /** False after `--no-local`. */
  local?: boolean;
  retainHandling?: 0 | 1 | 2;
  retainAsPublished?: boolean;
}

const EXAMPLES = `
Examples:
  $ nest-mqtt5 sub -h 127.0.0.1 -p 1883 -t 'TEST/GREETING/#' -q 1
  $ nest-mqtt5 sub -t 'devices/+/telemetry' -t 'devices/+/status' -q 1 -v
  $ nest-mqtt5 sub -b mqtt://127.0.0.1:1883 "TEST/GREETING/#" 1
  $ nest-mqtt5 sub -b mqtt://127.0.0.1:1883 "devices/+/telemetry" 1 --json -C 10
  $ nest-mqtt5 sub -b mqtt://127.0.0.1:1883 '$share/workers/jobs/#' 2 -v
  $ nest-mqtt5 sub -b mqtt://127.0.0.1:1883 --will-topic TEST/GREETING/WILL --will-qos 1 \\
      --will-payload "The Will message" --will-delay-interval 5 --session-expiry 10 "TEST/GREETING/#" 1`;

/** Registers the `sub` command. */
export function registerSub(program: Command): void {
  const command = program
    .command('sub')
    .description('subscribe to a topic filter and print each message as "topic payload"')
    .argument('[filter]', 'topic filter: + and # wildcards, $share/<group>/<filter> for a shared subscription (or -t)', parseTopicFilter)
    .argument('[qos]', 'maximum QoS: 0, 1 or 2 (or -q; default: 0)', parseQos)
    .option('-t, --topic <filter>', 'topic filter to subscribe to, repeatable', collectTopicFilter)
    .addOption(new Option('-q, --qos <qos>', 'maximum QoS of the subscriptions: 0, 1 or 2 (default: 0)').argParser(parseQos))
    .option('-v, --verbose', 'print QoS, retain flag and properties under each message, and connection events')
    .option('--json', 'print one JSON object per message and line')
    .option('-C, --count <n>', 'exit after receiving n messages', integerIn(1, Number.MAX_SAFE_INTEGER))
    .option('--no-local', 'do not receive messages this client published (not with $share)')
    .option('--retain-handling <0|1|2>', 'retained messages: 0 send on subscribe, 1 only for a new subscription, 2 never', parseRetainHandling)
    .option('--retain-as-published', 'keep the retain flag of forwarded messages as published');
  addClientOptions(command, {
    reconnecting: true,
    timeoutHelp: 'exit with code 4 when this time passes (before --count messages arrived)',
  })
    .addHelpText('after', EXAMPLES)
    .action((filter: string | undefined, qos: QoS | undefined, options: SubCliOptions) => runSub(filter, qos, options));
}

function formatterOf(o: SubCliOptions): (msg: MqttMessage) => string {
  if (o.json === true) return formatMessageJson;
  if (o.verbose === true) return formatMessageVerbose;
  return formatMessage;
}

/** Runs `sub` until `--count` messages, a signal, `--timeout`, or a connection loss it will not recover from. */
export async function runSub(argFilter: string | undefined, argQos: QoS | undefined, o: SubCliOptions): Promise<void> {
  const { filters, qos } = resolveSubTarget(argFilter, argQos, o);
  if (o.json === true && o.verbose === true) throw new UsageError('--json and --verbose exclude each other (JSON already holds every detail).');
  const out = new LineWriter(process.stdout);
  const err = new LineWriter(process.stderr);
  const format = formatterOf(o);
  const policy = new ReconnectPolicy(o.reconnect !== false);
  const { client, connectOptions } = await createClient(o, policy.decide);
  printConnectionEvents(client, (line) => err.lineNow(line), false);
  const shutdown = new ShutdownSignal();
  const stop = (): void => {
    // Ends the session: pending operations reject and the receiver closes, which ends the loop below.
    client.disconnect().catch(() => undefined);
  };
  const deadline = new Deadline(o.timeout, stop);
  void shutdown.received.then(stop);
  let received = 0;
  let phase = 'CONNACK';
  try {
    const connack = await client.connect(connectOptions);
    if (o.verbose === true) err.lineNow(formatConnected(client, o.keepalive, connack));
    const receiver = new MessageReceiver();
    phase = 'SUBACK';
    const options = { qos, noLocal: o.local === false, retainAsPublished: o.retainAsPublished === true, retainHandling: o.retainHandling };
    const suback = await client.subscribe({ subscriptions: filters.map((topicFilter) => ({ topicFilter, ...options })) }, receiver);
    for (let i = 0; i < filters.length; i++) {
      const code = suback.reasonCodes[i] ?? 0x80;
      if (code >= 0x80) {
        throw new CliError(`The broker refused the subscription to ${filters[i]}: ${formatReason(code, suback.properties?.reasonString)}`);
      }
      if (o.verbose === true) err.lineNow(`subscribed to ${filters[i]} (granted QoS ${code})`);
    }
    phase = o.count === undefined ? 'messages' : `${o.count} messages`;
    for await (const msg of receiver) {
      await out.line(format(msg));
      received++;
      if (out.error !== undefined || (o.count !== undefined && received >= o.count)) break;
    }
  } catch (error) {
    if (!deadline.expired && shutdown.signal === undefined) throw error;
  } finally {
    deadline.clear();
    shutdown.dispose();
    await client.disconnect();
  }
  if (deadline.expired) {
    const got = o.count === undefined ? '' : ` (received ${received} of ${o.count} messages)`;
    throw new TimeoutError(`Timed out after ${(deadline.ms ?? 0) / 1000} s waiting for ${phase}${got}.`);
  }
  // The loop also ends when the client gave up reconnecting: its receiver was closed with the error.
  if (policy.error !== undefined && shutdown.signal === undefined) throw policy.error;
}

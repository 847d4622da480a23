/**
 * The options every client command (`connect`, `pub`, `sub`) shares: broker URL, CONNECT fields,
 * credentials, TLS files, reconnect delays and the will message — registered on a commander
 * command, and turned into an {@link MqttClient} plus the options of its `connect()`.
 */
import { Option, type Command } from 'commander';
import {
  connectionFromUrl,
  MqttClient,
  type ConnectOptions,
  type ConnectionFromUrlOptions,
  type MqttClientOptions,
} from '../client/index.js';
import type { QoS } from '../codec/index.js';
import { UsageError } from './errors.js';
import { readPem } from './files.js';
import {
  integerIn,
  parseBrokerUrl,
  parseHost,
  parsePort,
  parseProtocolVersion,
  parseQos,
  parseTopicName,
  positiveSecondsToMs,
  secondsToMs,
} from './parse.js';

/** Broker used when neither `-b` nor `MQTT_URL` is given. */
export const DEFAULT_BROKER_URL = 'mqtt://127.0.0.1:1883';

/** The parsed shared options (commander's camelCase names). */
export interface ClientCliOptions {
  broker: URL;
  /** `-h/--host`: replaces the host of {@link broker} (bracketed when IPv6). */
  host?: string;
  /** `-p/--port`: replaces the port of {@link broker}. */
  port?: number;
  /** `-V/--protocol-version`: always 5 when given (anything else is a usage error). */
  protocolVersion?: 5;
  clientId?: string;
  keepalive: number;
  cleanStart?: boolean;
  sessionExpiry?: number;
  username?: string;
  password?: string;
  /** Milliseconds. */
  timeout?: number;
  /** Milliseconds; absent for commands that never reconnect. */
  reconnectDelay?: number;
  /** Milliseconds; absent for commands that never reconnect. */
  maxReconnectDelay?: number;
  /** False after `--no-reconnect`. */
  reconnect?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  willTopic?: string;
  willPayload?: string;
  willQos?: QoS;
  willRetain?: boolean;
  willDelayInterval?: number;
}

/** What kind of command the options are for: one-shot commands (`pub`) never reconnect. */
export interface ClientOptionsSpec {
  reconnecting: boolean;
  /** Help text of `--timeout` for this command. */
  timeoutHelp: string;
}

/** Registers the shared client options on `command`. */
export function addClientOptions(command: Command, spec: ClientOptionsSpec): Command {
  command
    .addOption(
      new Option('-b, --broker <url>', 'broker URL: mqtt://, mqtts://, ws://, wss:// (tcp:// and tls:// too)')
        .env('MQTT_URL')
        .argParser(parseBrokerUrl)
        .default(new URL(DEFAULT_BROKER_URL), DEFAULT_BROKER_URL),
    )
    // mosquitto_pub/sub's spelling: they adjust the URL, so `-h host -p 1884` and `-b ws://… -p 9001` both work.
    .option('-h, --host <host>', 'broker host, replaces the host of -b (default: 127.0.0.1)', parseHost)
    .option('-p, --port <port>', 'broker port, replaces the port of -b (default: 1883)', parsePort)
    .option('-V, --protocol-version <version>', 'MQTT version: 5 or mqttv5, the only one this client speaks', parseProtocolVersion)
    .option('-i, --client-id <id>', 'client identifier (default: assigned by the broker)')
    .option('-k, --keepalive <seconds>', 'keep alive interval, 0 disables', integerIn(0, 65535), 60)
    .option('--clean-start', 'start a new session (the default)')
    .option('--no-clean-start', 'resume the session of --client-id if the broker still has it')
    .option('--session-expiry <seconds>', 'keep the session this long after the connection ends', integerIn(0, 0xffff_ffff))
    .addOption(new Option('-u, --username <name>', 'user name').env('MQTT_USERNAME'))
    .addOption(new Option('-P, --password <password>', 'password (prefer the env variable: argv is visible to other users)').env('MQTT_PASSWORD'))
    .option('--timeout <seconds>', spec.timeoutHelp, positiveSecondsToMs)
    .option('--ca <file>', 'trusted CA certificate (PEM) for mqtts:// and wss://')
    .option('--cert <file>', 'client certificate (PEM) for mutual TLS')
    .option('--key <file>', 'private key (PEM) of --cert')
    .option('--insecure', 'do not verify the broker certificate (testing only)');
  if (spec.reconnecting) {
    command
      // Parsed to milliseconds, but the default is shown in the unit the option takes.
      .addOption(
        new Option('--reconnect-delay <seconds>', 'first reconnect delay (doubles per attempt, with jitter)').argParser(secondsToMs).default(1000, '1'),
      )
      .addOption(new Option('--max-reconnect-delay <seconds>', 'longest reconnect delay').argParser(secondsToMs).default(32_000, '32'))
      .option('--no-reconnect', 'exit when the connection is lost instead of reconnecting');
  }
  return command
    .option('--will-topic <topic>', 'will message: topic the broker publishes to if we vanish', parseTopicName)
    .option('--will-payload <text>', 'will message payload', '')
    .option('--will-qos <qos>', 'will message QoS', parseQos, 0 as QoS)
    .option('--will-retain', 'retain the will message')
    .option('--will-delay-interval <seconds>', 'wait this long after the loss before publishing the will', integerIn(0, 0xffff_ffff));
}

/** Checks option combinations commander cannot express. */
function checkCombinations(o: ClientCliOptions): void {
  const willExtras = o.willPayload !== '' || o.willQos !== 0 || o.willRetain === true || o.willDelayInterval !== undefined;
  if (o.willTopic === undefined && willExtras) throw new UsageError('--will-payload, --will-qos, --will-retain and --will-delay-interval need --will-topic.');
  const tls = o.ca !== undefined || o.cert !== undefined || o.key !== undefined || o.insecure === true;
  const scheme = o.broker.protocol;
  if (tls && scheme !== 'mqtts:' && scheme !== 'tls:' && scheme !== 'wss:') {
    throw new UsageError(`--ca, --cert, --key and --insecure need an mqtts:, tls: or wss: broker URL, not ${scheme}`);
  }
  if ((o.cert === undefined) !== (o.key === undefined)) throw new UsageError('--cert and --key go together.');
  if (o.reconnectDelay !== undefined && o.maxReconnectDelay !== undefined && o.maxReconnectDelay < o.reconnectDelay) {
    throw new UsageError('--max-reconnect-delay must not be below --reconnect-delay.');
  }
}

/** The broker URL: `-b` (or `MQTT_URL`, or the default) with the host and port of `-h`/`-p` if given. */
export function brokerUrlOf(o: Pick<ClientCliOptions, 'broker' | 'host' | 'port'>): URL {
  if (o.host === undefined && o.port === undefined) return o.broker;
  const url = new URL(o.broker.href);
  if (o.host !== undefined) url.hostname = o.host;
  if (o.port !== undefined) url.port = String(o.port);
  return url;
}

/** Builds the network connection options for the URL's scheme. */
async function transportOptions(o: ClientCliOptions): Promise<ConnectionFromUrlOptions> {
  const [ca, cert, key] = await Promise.all([readPem(o.ca, '--ca'), readPem(o.cert, '--cert'), readPem(o.key, '--key')]);
  const rejectUnauthorized = o.insecure !== true;
  return { tls: { ca, cert, key, rejectUnauthorized }, ws: { ca, cert, key, rejectUnauthorized } };
}

/** The CONNECT options from the parsed command line. */
export function connectOptionsOf(o: ClientCliOptions): ConnectOptions {
  const options: ConnectOptions = {
    clientId: o.clientId ?? '',
    keepAlive: o.keepalive,
    cleanStart: o.cleanStart !== false,
    username: o.username,
    password: o.password,
  };
  if (o.sessionExpiry !== undefined) options.properties = { sessionExpiryInterval: o.sessionExpiry };
  if (o.willTopic !== undefined) {
    options.will = {
      topic: o.willTopic,
      payload: o.willPayload ?? '',
      qos: o.willQos ?? 0,
      retain: o.willRetain === true,
      properties: o.willDelayInterval === undefined ? undefined : { willDelayInterval: o.willDelayInterval },
    };
  }
  return options;
}

/**
 * A ready-to-connect client and its CONNECT options; throws UsageError for bad combinations or
 * unreadable files. `reconnect` is the reconnect policy of long-running commands; one-shot commands
 * leave it out and never reconnect.
 */
export async function createClient(
  o: ClientCliOptions,
  reconnect: MqttClientOptions['reconnect'] = false,
): Promise<{ client: MqttClient; connectOptions: ConnectOptions }> {
  checkCombinations(o);
  const connection = connectionFromUrl(brokerUrlOf(o), await transportOptions(o));
  const client = new MqttClient(connection, {
    reconnect,
    initialReconnectDelay: o.reconnectDelay,
    maxReconnectDelay: o.maxReconnectDelay,
    connectTimeout: o.timeout ?? 30_000,
  });
  return { client, connectOptions: connectOptionsOf(o) };
}

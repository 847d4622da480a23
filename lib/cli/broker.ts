/**
 * `nest-mqtt5 broker`: runs the embedded MQTT v5 broker on TCP (and optionally WebSocket, TLS and
 * secure WebSocket), prints the bound addresses, and closes cleanly on SIGINT/SIGTERM
 * (DISCONNECT 0x8B Server shutting down to every client). Mosquitto password and ACL files
 * (--password-file, --acl-file) are reloaded on SIGHUP; see broker-auth.ts.
 */
import type { Command } from 'commander';
import { BrokerOptionsError, MqttBroker, type ClientInfo, type ListenOptions, type MqttBrokerOptions } from '../broker/index.js';
import { formatDisconnectReason, formatReasonCode, UsageError } from './errors.js';
import { loadAuthFiles, type AuthFiles } from './broker-auth.js';
import { readPem } from './files.js';
import { integerIn, positiveSecondsToMs } from './parse.js';
import { LineWriter, ShutdownSignal } from './runtime.js';

/** Options of `broker`. */
export interface BrokerCliOptions {
  host: string;
  port: number;
  wsPort?: number;
  wsPath: string;
  tlsPort?: number;
  wssPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  requireClientCert?: boolean;
  maxConnections?: number;
  maxPacketSize?: number;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  maxQueuedMessages?: number;
  maxSubscriptions?: number;
  /** Milliseconds. */
  connectTimeout?: number;
  maxKeepalive?: number;
  maxSessionExpiry?: number;
  passwordFile?: string;
  aclFile?: string;
  allowAnonymous?: boolean;
  /** Seconds; 0 = off. */
  sysInterval: number;
  /** Persistence directory (LMDB store). */
  dataDir?: string;
  sync?: string;
  verbose: number;
}

const EXAMPLES = `
Examples:
  $ nest-mqtt5 broker --port 1883 --ws-port 8080
  $ nest-mqtt5 broker --host 0.0.0.0 --port 1883 --tls-cert server.crt --tls-key server.key
  $ nest-mqtt5 broker --port 0 --max-connections 100 --max-packet-size 65536 -vv
  $ mosquitto_passwd -c -b passwords alice secret
  $ nest-mqtt5 broker --password-file passwords --acl-file acl   # kill -HUP <pid> reloads both

  $ nest-mqtt5 broker --data-dir /var/lib/mqtt --sync always`;

const port = integerIn(0, 65535);
const count = (_: string, previous: number): number => previous + 1;

/** Registers the `broker` command. */
export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT v5 broker until Ctrl-C')
    .option('-h, --host <address>', 'interface to listen on (0.0.0.0 or :: for all)', '127.0.0.1')
    .option('-p, --port <port>', 'MQTT over TCP port (0: any free port)', port, 1883)
    .option('--ws-port <port>', 'also listen for MQTT over WebSocket on this port', port)
    .option('--ws-path <path>', 'HTTP path of the WebSocket endpoints', '/mqtt')
    .option('--tls-port <port>', 'MQTT over TLS port (default 8883 when --tls-cert is given)', port)
    .option('--wss-port <port>', 'also listen for MQTT over secure WebSocket on this port', port)
    .option('--tls-cert <file>', 'server certificate chain (PEM) for TLS and secure WebSocket')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--tls-ca <file>', 'CA (PEM) that signs client certificates')
    .option('--require-client-cert', 'mutual TLS: refuse clients without a certificate signed by --tls-ca')
    .option('--max-connections <n>', 'connected clients at most (CONNACK 0x89 beyond)', integerIn(1, 10_000_000))
    .option('--max-packet-size <bytes>', 'largest packet accepted from a client', integerIn(64, 268_435_460))
    .option('--receive-maximum <n>', 'unacknowledged QoS 1/2 messages a client may send at once', integerIn(1, 65535))
    .option('--topic-alias-maximum <n>', 'topic aliases a client may use (0 disables them)', integerIn(0, 65535))
    .option('--max-queued-messages <n>', 'messages queued per session (offline or slow client)', integerIn(0, 10_000_000))
    .option('--max-subscriptions <n>', 'subscriptions per client', integerIn(1, 10_000_000))
    .option('--connect-timeout <seconds>', 'close connections that send no CONNECT within this time', positiveSecondsToMs)
    .option('--max-keepalive <seconds>', 'largest keep alive granted to clients', integerIn(1, 65535))
    .option('--max-session-expiry <seconds>', 'largest session expiry granted to clients', integerIn(0, 0xffff_ffff))
    .option('--password-file <file>', "Mosquitto password file (mosquitto_passwd): clients must log in; reloaded on SIGHUP")
    .option('--acl-file <file>', "Mosquitto ACL file: who may publish and subscribe to what; reloaded on SIGHUP")
    .option('--allow-anonymous', 'with --password-file, also accept clients that send no user name')
    .option('--sys-interval <seconds>', 'publish $SYS/broker/... statistics every so many seconds (0: off)', integerIn(0, 86_400), 10)
    .option('--data-dir <dir>', 'keep sessions, QoS 1/2 messages and retained messages in this directory across restarts')
    .option('--sync <mode>', "with --data-dir: 'always' (ack after fsync, default) or 'periodic' (fsync every second)")
    .option('-v, --verbose', 'log connections and subscriptions; -vv also every message', count, 0)
    .addHelpText('after', EXAMPLES)
    .action((options: BrokerCliOptions) => runBroker(options));
}

/** The listeners to open; TLS ones need --tls-cert and --tls-key. */
async function listenOptions(o: BrokerCliOptions): Promise<ListenOptions> {
  const listen: ListenOptions = { tcp: { host: o.host, port: o.port } };
  if (o.wsPort !== undefined) listen.ws = { host: o.host, port: o.wsPort, path: o.wsPath };
  const wantsTls = o.tlsPort !== undefined || o.wssPort !== undefined;
  const hasCert = o.tlsCert !== undefined || o.tlsKey !== undefined;
  if (!wantsTls && !hasCert) {
    if (o.tlsCa !== undefined || o.requireClientCert === true) throw new UsageError('--tls-ca and --require-client-cert need --tls-cert and --tls-key.');
    return listen;
  }
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw new UsageError('TLS listeners need both --tls-cert and --tls-key.');
  if (o.requireClientCert === true && o.tlsCa === undefined) throw new UsageError('--require-client-cert needs --tls-ca to verify client certificates.');
  const [cert, key, ca] = await Promise.all([
    readPem(o.tlsCert, '--tls-cert'),
    readPem(o.tlsKey, '--tls-key'),
    readPem(o.tlsCa, '--tls-ca'),
  ]);
  const tls = { cert, key, ca, requireClientCertificate: o.requireClientCert === true };
  if (o.tlsPort !== undefined || o.wssPort === undefined) listen.tls = { ...tls, host: o.host, port: o.tlsPort ?? 8883 };
  if (o.wssPort !== undefined) listen.wss = { ...tls, host: o.host, port: o.wssPort, path: o.wsPath };
  return listen;
}

function brokerOptions(o: BrokerCliOptions, auth: AuthFiles): MqttBrokerOptions {
  if (o.sync !== undefined && o.dataDir === undefined) throw new UsageError('--sync needs --data-dir.');
  if (o.sync !== undefined && o.sync !== 'always' && o.sync !== 'periodic') throw new UsageError(`--sync must be 'always' or 'periodic', got '${o.sync}'.`);
  return {
    ...auth.brokerOptions,
    sysInterval: o.sysInterval,
    persistence: o.dataDir === undefined ? undefined : { dir: o.dataDir, sync: o.sync as 'always' | 'periodic' | undefined },
    maxConnections: o.maxConnections,
    maximumPacketSize: o.maxPacketSize,
    receiveMaximum: o.receiveMaximum,
    topicAliasMaximum: o.topicAliasMaximum,
    maxQueuedMessages: o.maxQueuedMessages,
    maxSubscriptionsPerClient: o.maxSubscriptions,
    connectTimeout: o.connectTimeout,
    maxKeepAlive: o.maxKeepalive,
    maxSessionExpiryInterval: o.maxSessionExpiry,
  };
}

const who = (c: ClientInfo): string =>
  `${c.clientId} (${c.transport}${c.remoteAddress === undefined ? '' : ` ${c.remoteAddress}:${c.remotePort ?? '?'}`})`;

/** Logs broker events according to the verbosity. */
function logEvents(broker: MqttBroker, log: LineWriter, verbose: number): void {
  if (verbose < 1) return;
  broker.on('connect', (c, sessionPresent) => log.lineNow(`client ${who(c)} connected${sessionPresent ? ', session resumed' : ''}`));
  broker.on('disconnect', (c, info) => {
    const reason = info.reasonCode === undefined ? 'connection lost' : formatDisconnectReason(info.reasonCode);
    log.lineNow(`client ${who(c)} disconnected by ${info.initiator}: ${reason}${info.willPublished ? ', will published' : ''}`);
  });
  broker.on('subscribe', (c, subs, codes) => {
    const list = subs.map((s, i) => `${s.topicFilter} → ${formatReasonCode(codes[i] ?? 0x80)}`).join(', ');
    log.lineNow(`client ${c.clientId} subscribed: ${list}`);
  });
  broker.on('unsubscribe', (c, filters) => log.lineNow(`client ${c.clientId} unsubscribed: ${filters.join(', ')}`));
  broker.on('clientError', (c, err) => log.lineNow(`client ${c === null ? '(not connected)' : c.clientId} error: ${err.message}`));
  broker.on('denied', (c, d) => log.lineNow(`client ${c.clientId} denied ${d.action} ${d.topic}: ${formatReasonCode(d.reasonCode)}`));
  broker.on('drop', (d) => log.lineNow(`dropped a message on ${d.message.topic} for ${d.clientId}: ${d.reason}`));
  if (verbose < 2) return;
  broker.on('publish', (m, c) =>
    log.lineNow(`publish ${m.topic} qos ${m.qos}${m.retain ? ' retained' : ''} ${m.payload.length} bytes from ${c === null ? 'the broker' : c.clientId}`),
  );
}

/** Runs `broker` until SIGINT/SIGTERM; rejects when it cannot start or a listener fails. */
export async function runBroker(o: BrokerCliOptions): Promise<void> {
  const listen = await listenOptions(o);
  // A malformed file refuses the start, naming the file and line (AuthFileError → exit 2).
  const auth = loadAuthFiles(o);
  let broker: MqttBroker;
  try {
    broker = new MqttBroker(brokerOptions(o, auth));
  } catch (err) {
    if (err instanceof BrokerOptionsError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  const out = new LineWriter(process.stdout);
  const shutdown = new ShutdownSignal();
  const reload = auth.reloadOnSighup(out, new LineWriter(process.stderr));
  // A listener failing after start is fatal for a command-line broker: report it and shut down.
  const failed = new Promise<Error>((resolve) => broker.on('error', resolve));
  logEvents(broker, out, o.verbose);
  try {
    if (o.dataDir !== undefined) {
      const t0 = performance.now();
      const r = (await broker.start())!;
      out.lineNow(
        `restored from ${o.dataDir} in ${Math.round(performance.now() - t0)} ms: ${r.sessions} sessions, ${r.subscriptions} subscriptions, ` +
          `${r.outbound} queued/in-flight messages, ${r.retained} retained messages`,
      );
    }
    const bound = await broker.listen(listen);
    for (const [kind, address] of Object.entries(bound)) {
      if (address !== undefined) out.lineNow(`listening on ${address.url} (${kind})`);
    }
    out.lineNow('broker ready; Ctrl-C to stop');
    const end = await Promise.race([shutdown.received, failed]);
    if (end instanceof Error) throw end;
    out.lineNow(`${end}: closing (clients get DISCONNECT 0x8B Server shutting down)`);
  } finally {
    reload.dispose();
    shutdown.dispose();
    await broker.close();
  }
  out.lineNow('broker closed');
}

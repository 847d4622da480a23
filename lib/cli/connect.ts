/**
 * `nest-mqtt5 connect`: connects, stays connected (reconnecting with backoff) and prints every
 * connection event — the seed's `basic-client` example. Ctrl-C sends DISCONNECT and exits 0.
 */
import type { Command } from 'commander';
import { ClientClosedError } from '../client/index.js';
import { addClientOptions, createClient, type ClientCliOptions } from './client-options.js';
import { printConnectionEvents, ReconnectPolicy } from './connection-events.js';
import { formatConnected } from './format.js';
import { LineWriter, ShutdownSignal } from './runtime.js';

const EXAMPLES = `
Examples:
  $ nest-mqtt5 connect -b mqtt://127.0.0.1:1883 -k 120 --clean-start
  $ nest-mqtt5 connect -b ws://127.0.0.1:8080/mqtt -i sensor-7 --no-clean-start --session-expiry 3600
  $ nest-mqtt5 connect -b mqtt://127.0.0.1:1883 --will-topic devices/7/status --will-payload offline --will-retain`;

/** Registers the `connect` command. */
export function registerConnect(program: Command): void {
  const command = program
    .command('connect')
    .description('connect to a broker, stay connected and print connection events until Ctrl-C');
  addClientOptions(command, {
    reconnecting: true,
    timeoutHelp: 'give up when the broker has not answered CONNECT within this time (default 30)',
  })
    .addHelpText('after', EXAMPLES)
    .action((options: ClientCliOptions) => runConnect(options));
}

/** Runs `connect`; resolves on SIGINT/SIGTERM (after DISCONNECT), rejects when the connection ends for good. */
export async function runConnect(o: ClientCliOptions): Promise<void> {
  const out = new LineWriter(process.stdout);
  const shutdown = new ShutdownSignal();
  try {
    const policy = new ReconnectPolicy(o.reconnect !== false);
    const { client, connectOptions } = await createClient(o, policy.decide);
    printConnectionEvents(client, (line) => out.lineNow(line));
    // A signal at any point, even mid-connect, ends the session with DISCONNECT.
    const stopping = shutdown.received.then(() => client.disconnect());
    try {
      const connack = await client.connect(connectOptions);
      out.lineNow(formatConnected(client, connectOptions.keepAlive ?? 60, connack));
    } catch (error) {
      if (shutdown.signal !== undefined && error instanceof ClientClosedError) return await stopping;
      throw error;
    }
    const end = await Promise.race([stopping.then(() => undefined), policy.gaveUp]);
    if (end !== undefined) throw end;
  } finally {
    shutdown.dispose();
  }
}

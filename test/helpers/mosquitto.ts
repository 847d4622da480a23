/**
 * Runs a real Mosquitto for interop tests: its own config and TLS certificate in a temp dir, four
 * listeners on ephemeral loopback ports (MQTT over TCP, WebSocket, TLS, WebSocket over TLS),
 * anonymous access.
 *
 * When the `mosquitto` binary is missing, suites skip (see {@link mosquittoTestsEnabled}) — except
 * under CI (`CI=true`), where they run and fail: the interop tests must never be skipped silently.
 * Usage: `(mosquittoTestsEnabled() ? describe : describe.skip)('…', () => { … })`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withTimeout } from './wait.js';
import { freePorts } from './free-port.js';

const run = promisify(execFile);

/** A running Mosquitto. */
export interface Mosquitto {
  readonly host: '127.0.0.1';
  readonly tcpPort: number;
  readonly wsPort: number;
  readonly tlsPort: number;
  readonly wssPort: number;
  /** The self-signed certificate of the TLS listener (PEM), to trust as CA; valid for IP 127.0.0.1. */
  readonly ca: Buffer;
  readonly tcpUrl: string;
  readonly wsUrl: string;
  readonly tlsUrl: string;
  readonly wssUrl: string;
  /** Mosquitto's log lines so far (for failure messages). */
  readonly logs: string[];
  /** Stops the broker and removes its temp dir. */
  stop(): Promise<void>;
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Extra lines for the config file (global section). */
  extraConfig?: string[];
  /** The MQTT/TCP port (default: a free one), e.g. to start it again on the port of a stopped one. */
  tcpPort?: number;
}

/** Path of the mosquitto binary, or undefined. `MOSQUITTO` overrides the lookup. */
export function findMosquitto(): string | undefined {
  const candidates = [
    process.env.MOSQUITTO,
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'mosquitto')),
    '/usr/sbin/mosquitto',
    '/usr/local/sbin/mosquitto',
    '/opt/homebrew/sbin/mosquitto',
  ];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next candidate
    }
  }
  return undefined;
}

/** Whether Mosquitto suites should run: when it is installed, and always under CI (where its absence must fail). */
export function mosquittoTestsEnabled(): boolean {
  return findMosquitto() !== undefined || process.env.CI === 'true';
}

/** Retries a TCP connect to `port` until it succeeds or `deadline` (ms since epoch) passes. */
async function waitAccepting(port: number, deadline: number): Promise<void> {
  let delay = 5;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Mosquitto does not accept connections on port ${port}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Starts Mosquitto; retries with new ports if one was taken in between. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const bin = findMosquitto();
  if (bin === undefined) {
    throw new Error('mosquitto is not installed (apt-get install mosquitto), and interop tests must not be skipped');
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-mosquitto-'));
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ]);
    const ca = await readFile(path.join(dir, 'cert.pem'));
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await launch(bin, dir, ca, options);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(bin: string, dir: string, ca: Buffer, options: MosquittoOptions): Promise<Mosquitto> {
  const [freeTcpPort, wsPort, tlsPort, wssPort] = (await freePorts(4)) as [number, number, number, number];
  const tcpPort = options.tcpPort ?? freeTcpPort;
  const cert = [`certfile ${path.join(dir, 'cert.pem')}`, `keyfile ${path.join(dir, 'key.pem')}`];
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      // Mosquitto drops root privileges to user "mosquitto", who could not read our temp dir.
      `user ${os.userInfo().username}`,
      'max_queued_messages 0',
      'set_tcp_nodelay true',
      ...(options.extraConfig ?? []),
      `listener ${tcpPort} 127.0.0.1`,
      `listener ${wsPort} 127.0.0.1`,
      'protocol websockets',
      `listener ${tlsPort} 127.0.0.1`,
      ...cert,
      `listener ${wssPort} 127.0.0.1`,
      'protocol websockets',
      ...cert,
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (/ running$/.test(line)) resolve();
      }
    });
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`mosquitto exited with ${code}:\n${logs.join('\n')}`)));
  });
  try {
    const deadline = Date.now() + 10_000;
    await withTimeout(running, 10_000, 'mosquitto to start');
    for (const port of [tcpPort, wsPort, tlsPort, wssPort]) await waitAccepting(port, deadline);
  } catch (err) {
    await stopChild(child, exited);
    throw err;
  }
  return {
    host: '127.0.0.1',
    tcpPort,
    wsPort,
    tlsPort,
    wssPort,
    ca,
    tcpUrl: `mqtt://127.0.0.1:${tcpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    wssUrl: `wss://127.0.0.1:${wssPort}/mqtt`,
    logs,
    async stop(): Promise<void> {
      await stopChild(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  try {
    await withTimeout(exited, 5000, 'mosquitto to exit');
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

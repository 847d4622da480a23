/**
 * Runs the CLI examples of README.md ("Broker and CLI"), as written, in one scenario: the broker
 * line starts the broker (on ephemeral ports instead of 1883/8080, which the other lines' URLs are
 * rewritten to), the long-running clients start, every `pub` runs, the client with a will is
 * killed — and every subscriber must then have printed every message, the will included.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../helpers/build.js';
import { stopAllProcesses, type RunningProcess } from '../../helpers/run-process.js';
import { BUILD_TIMEOUT, buildCli, runCli, startCli } from './support.js';

/** Splits a shell line into words: double and single quotes, no escapes (the README needs none). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** The `nest-mqtt5 …` lines of the README's CLI example block, as argument vectors (without the command name). */
function readmeCommands(): string[][] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const marker = readme.indexOf('<!-- cli-examples');
  expect(marker).toBeGreaterThan(-1);
  const start = readme.indexOf('```bash\n', marker);
  const end = readme.indexOf('\n```', start + 8);
  return readme
    .slice(start + 8, end)
    .split('\n')
    .filter((l) => l.startsWith('nest-mqtt5 '))
    .map((l) => shellWords(l).slice(1));
}

/** The value following `flag` in `args`. */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

/** The positional arguments of a pub/sub line: options with a value are skipped. */
function positionals(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) out.push(a);
    else if (!['--clean-start', '--json', '-v', '--retain', '-r', '--will-retain', '--no-local', '-s', '--stdin', '-l', '-n'].includes(a)) i++;
  }
  return out;
}

beforeAll(() => buildCli(), BUILD_TIMEOUT);
afterAll(() => stopAllProcesses());

describe('README CLI examples', () => {
  it('run as written against the broker they start', async () => {
    const commands = readmeCommands();
    const broker = commands.filter((c) => c[0] === 'broker');
    expect(broker).toHaveLength(1);

    // The broker, on free ports; -v so that the test sees subscriptions arrive.
    const brokerArgs = broker[0]!.map((a, i, all) => (all[i - 1] === '--port' || all[i - 1] === '--ws-port' ? '0' : a));
    const b = startCli([...brokerArgs, '-v']);
    await b.waitForLine('broker ready', 15_000);
    const tcp = /listening on (mqtt:\/\/\S+)/.exec(b.stdout)![1]!;
    const ws = /listening on (ws:\/\/\S+)/.exec(b.stdout)![1]!;
    const tcpPort = new URL(tcp).port;
    // URLs, and mosquitto-style `-p 1883`, point at the broker the test started.
    const rewrite = (args: string[]): string[] =>
      args.map((a, i) =>
        a === 'mqtt://127.0.0.1:1883' ? tcp : a === 'ws://127.0.0.1:8080/mqtt' ? ws : a === '1883' && ['-p', '--port'].includes(args[i - 1]!) ? tcpPort : a,
      );

    const subs: { args: string[]; p: RunningProcess }[] = [];
    let willClient: { p: RunningProcess; topic: string; payload: string } | undefined;
    let subscriptions = 0;
    for (const cmd of commands) {
      const args = rewrite(cmd);
      if (args[0] === 'connect') {
        const p = startCli(args);
        await p.waitForLine('connected to');
        subs.push({ args, p });
      } else if (args[0] === 'sub') {
        const p = startCli(args);
        subscriptions++;
        // Wait for the broker to confirm this subscription before going on.
        await b.waitForLines(/ subscribed: /, subscriptions);
        const willTopic = valueOf(args, '--will-topic');
        if (willTopic !== undefined) willClient = { p, topic: willTopic, payload: valueOf(args, '--will-payload') ?? '' };
        else subs.push({ args, p });
      }
    }

    // The publishes, in README order.
    const published: [string, string][] = [];
    for (const cmd of commands.filter((c) => c[0] === 'pub')) {
      const args = rewrite(cmd);
      const r = await runCli(args);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const [topic, , message] = positionals(args);
      // The positional form or mosquitto's -t/-m.
      published.push([valueOf(args, '-t') ?? topic!, valueOf(args, '-m') ?? message!]);
    }

    // The will: published by the broker once the client has been gone for its will delay.
    expect(willClient).toBeDefined();
    willClient!.p.kill('SIGKILL');
    published.push([willClient!.topic, willClient!.payload]);
    const delay = Number(valueOf(commands.find((c) => c.includes('--will-topic'))!, '--will-delay-interval') ?? 0);

    for (const { args, p } of subs) {
      if (args[0] === 'connect') continue;
      if (args.includes('--json')) {
        const count = Number(valueOf(args, '-C'));
        const r = await p.waitForExit(delay * 1000 + 10_000);
        expect(r.code).toBe(0);
        const got = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { topic: string; payload: string });
        expect(got.map((m) => [m.topic, m.payload])).toEqual(published.slice(0, count));
      } else {
        for (const [topic, message] of published) await p.waitForLine(`${topic} ${message}`, delay * 1000 + 10_000);
      }
    }

    // Everything still running stops cleanly on SIGINT: clients first, then the broker.
    for (const { p } of subs) {
      if (!p.running) continue;
      p.kill('SIGINT');
      expect((await p.waitForExit()).code).toBe(0);
    }
    b.kill('SIGINT');
    const closed = await b.waitForExit();
    expect(closed.stdout.trimEnd().split('\n').at(-1)).toBe('broker closed');
    expect(closed.code).toBe(0);
  }, 60_000);
});

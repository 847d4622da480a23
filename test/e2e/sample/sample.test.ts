/**
 * The sample, run the way the README says — `npm run sample` is `npm run build && node
 * dist/sample/main.js` — on the embedded broker and on Mosquitto (MQTT_URL), in its once-mode and
 * in its keep-running mode; its log lines are the contract.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DIST, ensureBuilt, ROOT } from '../../helpers/build.js';
import { mosquittoTestsEnabled, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { runProcess, startProcess, stopAllProcesses, type ProcessResult } from '../../helpers/run-process.js';

const MAIN = path.join(DIST, 'sample', 'main.js');
const CLI = path.join(DIST, 'lib', 'cli', 'main.js');
/** No developer settings leaking in; no colours. */
const ENV = { MQTT_URL: undefined, MQTT_PORT: '0', SAMPLE_EXIT: undefined, SAMPLE_DEBUG: undefined, NO_COLOR: '1' };

beforeAll(async () => {
  await ensureBuilt(MAIN);
  await ensureBuilt(CLI);
}, 240_000);
afterEach(() => stopAllProcesses());
afterAll(() => stopAllProcesses());

/** The log lines without their timestamp: `Caller     ← dev-1: …`. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''));
}

/**
 * The excerpt of the sample's output the README's quick start shows (its ```text block), each line
 * as a pattern: timestamps vary, and which worker of the shared group takes a job is the broker's
 * choice. Every line must be one a run really prints, so the README cannot drift from the sample.
 */
function readmeExcerpt(): RegExp[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## The four layers'));
  const start = quick.indexOf('```text\n');
  expect(start).toBeGreaterThan(-1);
  const block = quick.slice(start + 8, quick.indexOf('\n```', start + 8));
  return lines(block).map((line) => {
    const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`^${escaped.replace(/\d\d:\d\d:\d\d/g, '\\d\\d:\\d\\d:\\d\\d').replace(/^worker-[ab]/, 'worker-[ab]')}$`);
  });
}

/** What every complete run of the scenario prints, whatever the broker. */
function expectScenario(r: ProcessResult): void {
  const out = lines(r.stdout);
  const excerpt = readmeExcerpt();
  expect(excerpt.length).toBeGreaterThanOrEqual(5);
  for (const pattern of excerpt) {
    if (!out.some((l) => pattern.test(l))) throw new Error(`README.md shows a line the sample does not print: ${pattern}\n${r.stdout}`);
  }
  const inOrder = [
    'Sample     devices service and workers a, b are subscribed',
    'Caller     → emit devices/dev-1/telemetry {"celsius":21.4,"humidity":40}',
    'Caller     ← dev-1: 3 readings, 21.4–22.5 °C, avg 21.93 °C',
    'Caller     ← dev-2: 2 readings, 18–18.2 °C, avg 18.1 °C',
    'Caller     ← error UNKNOWN_DEVICE: unknown device dev-9',
    'Caller     ← reboot of dev-2 accepted',
    'Caller     → send 6 jobs to jobs/thumbnail (shared group "workers")',
    'Sample     starting the dashboard: it gets the retained statuses on subscribe',
    'Sample     demo complete: 2 devices, 6 jobs',
  ];
  let at = -1;
  for (const expected of inOrder) {
    const i = out.indexOf(expected, at + 1);
    if (i === -1) throw new Error(`missing (or out of order): ${expected}\n${r.stdout}\n${r.stderr}`);
    at = i;
  }
  expect(out.filter((l) => l.startsWith('Devices    telemetry '))).toHaveLength(5);
  expect(out).toContain('Devices    status dev-2 → rebooting (retained)');
  // The shared group: every job handled by exactly one worker, all six answered.
  const handled = out.filter((l) => /^worker-[ab] +job \d: thumbnail of photo-\d\.jpg \(via \$share\/workers\/jobs\/\+\)$/.test(l));
  expect(handled.map((l) => Number(/job (\d)/.exec(l)![1])).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  const rendered = out.filter((l) => l.startsWith('Caller     ← worker-')).flatMap((l) => l.replace(/.*rendered jobs /, '').split(', ').map(Number));
  expect(rendered.sort()).toEqual([1, 2, 3, 4, 5, 6]);
  // The late dashboard knows both devices from their retained statuses alone.
  expect(out).toEqual(expect.arrayContaining([
    expect.stringMatching(/^Dashboard  dev-1 is online since \d\d:\d\d:\d\d \(retained, sent on subscribe\)$/),
    expect.stringMatching(/^Dashboard  dev-2 is rebooting since \d\d:\d\d:\d\d \(retained, sent on subscribe\)$/),
  ]));
  expect(r.stderr).not.toMatch(/ERROR|FATAL/);
}

describe('npm run sample', () => {
  it('is build + node dist/sample/main.js', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.sample).toBe('npm run build && node dist/sample/main.js');
  });

  it('is a Nest project: nest-cli.json points at sample/main.ts and a tsconfig that builds sample/', () => {
    const nestCli = JSON.parse(readFileSync(path.join(ROOT, 'nest-cli.json'), 'utf8')) as {
      sourceRoot: string;
      entryFile: string;
      compilerOptions: { tsConfigPath: string };
    };
    expect(existsSync(path.join(ROOT, nestCli.sourceRoot, `${nestCli.entryFile}.ts`))).toBe(true);
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, nestCli.compilerOptions.tsConfigPath), 'utf8')) as { include?: string[] };
    expect(tsconfig.include?.some((glob) => glob === nestCli.sourceRoot || glob.startsWith(`${nestCli.sourceRoot}/`))).toBe(true);
    // The entry nest-cli.json names is the one `npm run sample` runs.
    expect(path.relative(ROOT, MAIN)).toBe(path.join('dist', nestCli.sourceRoot, `${nestCli.entryFile}.js`));
  });

  it('runs the demo on the embedded broker and exits 0 with --once', async () => {
    const r = await runProcess(process.execPath, [MAIN, '--once'], { cwd: ROOT, env: ENV, timeoutMs: 30_000 });
    expect(lines(r.stdout)[0]).toMatch(/^Sample     embedded MQTT v5 broker listening on mqtt:\/\/127\.0\.0\.1:\d+$/);
    expectScenario(r);
    expect(lines(r.stdout).at(-1)).toBe('Sample     stopped');
    expect(r.code).toBe(0);
  });

  it('with SAMPLE_TRACING=1 logs a trace id per request, one per request handled, and the failed request\'s with its warning', async () => {
    const r = await runProcess(process.execPath, [MAIN, '--once'], { cwd: ROOT, env: { ...ENV, SAMPLE_TRACING: '1' }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('Sample     tracing on: OpenTelemetry SDK registered (in-memory exporter)');
    const TRACE = / trace_id=([0-9a-f]{32})$/;
    const statuses = out.filter((l) => /^Devices    status dev-\d: answering /.test(l));
    const reboots = out.filter((l) => l.startsWith('Devices    reboot dev-2: accepted'));
    const jobs = out.filter((l) => /^worker-[ab] +job \d: /.test(l));
    expect(statuses).toHaveLength(2);
    expect(reboots).toHaveLength(1);
    expect(jobs).toHaveLength(6);
    const ids = [...statuses, ...reboots, ...jobs].map((l) => TRACE.exec(l)?.[1]);
    expect(ids.every((id) => id !== undefined)).toBe(true);
    // Each request is a trace of its own (the caller sends them outside any span).
    expect(new Set(ids).size).toBe(ids.length);
    // The request for an unknown device fails in its handler: a warning with its trace id.
    expect(r.stderr).toMatch(/ServerMqtt5 +WARN Handler of "devices\/\+\/commands\/status" failed on "devices\/dev-9\/commands\/status": unknown device dev-9 trace_id=[0-9a-f]{32}/);
    expect(out.at(-1)).toBe('Sample     stopped');
  });

  it('keeps running after the demo, serves the CLI commands it suggests, and stops on SIGINT', async () => {
    const p = startProcess(process.execPath, [MAIN], { cwd: ROOT, env: { ...ENV, SAMPLE_EXIT: '0' } });
    await p.waitForLine('Ctrl-C to stop', 30_000);
    const hint = lines(p.stdout).find((l) => l.includes('node dist/lib/cli/main.js pub -b'))!;
    const url = /-b (\S+)/.exec(hint)![1]!;
    // The suggested command, run with the built CLI.
    const pub = await runProcess(process.execPath, [CLI, 'pub', '-b', url, 'devices/dev-3/telemetry', '1', '{"celsius":19.5,"humidity":50}']);
    expect(pub.code).toBe(0);
    await p.waitForLine(/Devices +telemetry dev-3: 19\.5 °C, 50 % humidity \(QoS 1\)/);
    await p.waitForLine(/Dashboard +dev-3 is online since \d\d:\d\d:\d\d \(live\)/);
    p.kill('SIGINT');
    const r = await p.waitForExit(15_000);
    // Between the two, the transports' lifecycle logs (issue 13) say each connection closed.
    const tail = lines(r.stdout).filter((l) => l.startsWith('Sample '));
    expect(tail.slice(-2)).toEqual(['Sample     SIGINT: shutting down', 'Sample     stopped']);
    const afterSigint = lines(r.stdout).slice(lines(r.stdout).indexOf('Sample     SIGINT: shutting down') + 1);
    expect(afterSigint.filter((l) => !l.startsWith('Sample ')).every((l) => / \(closed\)$/.test(l))).toBe(true);
    expect(r.code).toBe(0);
  });

  it('exits 1 with the reason when the MQTT_PORT it was given is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = await runProcess(process.execPath, [MAIN, '--once'], { cwd: ROOT, env: { ...ENV, MQTT_PORT: String(port) }, timeoutMs: 30_000 });
      expect(r.stderr).toMatch(/EADDRINUSE/);
      expect(r.code).toBe(1);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('rejects a bad MQTT_URL with exit code 2', async () => {
    const r = await runProcess(process.execPath, [MAIN, '--once'], { cwd: ROOT, env: { ...ENV, MQTT_URL: 'http://x' } });
    expect(r.stderr).toMatch(/MQTT_URL has an unsupported scheme: http:/);
    expect(r.code).toBe(2);
  });
});

(mosquittoTestsEnabled() ? describe : describe.skip)('MQTT_URL=mqtt://… npm run sample (Mosquitto)', () => {
  let mosquitto: Mosquitto;
  beforeAll(async () => {
    mosquitto = await startMosquitto();
  }, 30_000);
  afterAll(async () => {
    await mosquitto?.stop();
  });

  it('runs the same demo against an external broker', async () => {
    const r = await runProcess(process.execPath, [MAIN, '--once'], { cwd: ROOT, env: { ...ENV, MQTT_URL: mosquitto.tcpUrl }, timeoutMs: 30_000 });
    expect(lines(r.stdout)[0]).toBe(`Sample     using the MQTT broker at ${mosquitto.tcpUrl}`);
    expectScenario(r);
    expect(r.code).toBe(0);
  });
});

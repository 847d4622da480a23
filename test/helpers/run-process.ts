/**
 * Runs programs as real child processes for end-to-end tests: collects their output line by
 * line, waits for a line or for the exit (always with a timeout, never by sleeping), and makes sure
 * no process outlives its test (`stopAllProcesses()` in afterEach).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { withTimeout } from './wait.js';

/** How a process ended, with everything it printed. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link startProcess}. */
export interface StartOptions {
  cwd?: string;
  /** Added to (and overriding) the current environment. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. Without it stdin is closed at once. */
  input?: string | Buffer;
  /** Keep stdin open (for a process that should wait on it). */
  keepStdinOpen?: boolean;
}

type StreamName = 'stdout' | 'stderr';

interface LineWaiter {
  match: (line: string) => boolean;
  resolve: (line: string) => void;
}

/** A running child process. */
export class RunningProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its output streams are closed. */
  readonly exited: Promise<ProcessResult>;
  private readonly text: Record<StreamName, string> = { stdout: '', stderr: '' };
  private readonly lines: Record<StreamName, string[]> = { stdout: [], stderr: [] };
  private readonly partial: Record<StreamName, string> = { stdout: '', stderr: '' };
  private readonly waiters: Record<StreamName, Set<LineWaiter>> = { stdout: new Set(), stderr: new Set() };

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    options: StartOptions = {},
  ) {
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = this.child[name]!;
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => this.onData(name, chunk));
    }
    const stdin = this.child.stdin!;
    stdin.on('error', () => {
      // EPIPE when the process exits without reading its stdin: irrelevant to the tests.
    });
    if (options.input !== undefined) stdin.end(options.input);
    else if (options.keepStdinOpen !== true) stdin.end();
    this.exited = new Promise<ProcessResult>((resolve, reject) => {
      this.child.once('error', reject);
      // 'close' (not 'exit'): fires after stdout/stderr are fully read.
      this.child.once('close', (code, signal) => {
        for (const name of ['stdout', 'stderr'] as const) {
          if (this.partial[name] !== '') this.pushLine(name, this.partial[name]);
          this.partial[name] = '';
        }
        resolve({ code, signal, stdout: this.text.stdout, stderr: this.text.stderr });
      });
    });
    running.add(this);
    void this.exited.finally(() => running.delete(this)).catch(() => undefined);
  }

  /** Output so far. */
  get stdout(): string {
    return this.text.stdout;
  }

  get stderr(): string {
    return this.text.stderr;
  }

  /** Complete lines so far. */
  stdoutLines(): string[] {
    return [...this.lines.stdout];
  }

  stderrLines(): string[] {
    return [...this.lines.stderr];
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onData(name: StreamName, chunk: string): void {
    this.text[name] += chunk;
    const parts = (this.partial[name] + chunk).split('\n');
    this.partial[name] = parts.pop() ?? '';
    for (const line of parts) this.pushLine(name, line);
  }

  private pushLine(name: StreamName, line: string): void {
    this.lines[name].push(line);
    for (const w of this.waiters[name]) {
      if (w.match(line)) {
        this.waiters[name].delete(w);
        w.resolve(line);
      }
    }
  }

  /**
   * Resolves with the first line (already printed or still to come) on `stream` that matches;
   * rejects after `ms` or when the process exits without printing it, quoting its output.
   */
  waitForLine(match: RegExp | string, ms = 10_000, stream: StreamName = 'stdout'): Promise<string> {
    return this.waitForLines(match, 1, ms, stream);
  }

  /**
   * Resolves with the `count`-th line on `stream` that matches (counting lines already printed);
   * rejects after `ms` or when the process exits first.
   */
  waitForLines(match: RegExp | string, count: number, ms = 10_000, stream: StreamName = 'stdout'): Promise<string> {
    const test = typeof match === 'string' ? (l: string) => l.includes(match) : (l: string) => match.test(l);
    const seen = this.lines[stream].filter(test);
    if (seen.length >= count) return Promise.resolve(seen[count - 1]!);
    let remaining = count - seen.length;
    let waiter: LineWaiter | undefined;
    const found = new Promise<string>((resolve, reject) => {
      waiter = { match: (l) => test(l) && --remaining === 0, resolve };
      this.waiters[stream].add(waiter);
      void this.exited.then(
        () => reject(new Error(`${this.describe()} exited before printing ${String(match)} on ${stream}\n${this.dump()}`)),
        reject,
      );
    });
    return withTimeout(found, ms, `${String(match)} on ${stream} of ${this.describe()}\n${this.dump()}`).finally(() => {
      if (waiter !== undefined) this.waiters[stream].delete(waiter);
    });
  }

  /** Waits for the exit (at most `ms`). */
  waitForExit(ms = 10_000): Promise<ProcessResult> {
    return withTimeout(this.exited, ms, `${this.describe()} to exit\n${this.dump()}`);
  }

  /** Sends a signal. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Kills the process (SIGKILL) if it still runs and waits for it to be gone. */
  async stop(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited.catch(() => undefined);
  }

  private describe(): string {
    return `${this.command} ${this.args.join(' ')}`;
  }

  /** The output so far, for failure messages (the part after the timeout message is lost otherwise). */
  dump(): string {
    return `--- stdout ---\n${this.text.stdout}--- stderr ---\n${this.text.stderr}`;
  }
}

const running = new Set<RunningProcess>();

/** Starts a process. */
export function startProcess(command: string, args: readonly string[], options?: StartOptions): RunningProcess {
  return new RunningProcess(command, args, options);
}

/** Runs a process to completion (at most `timeoutMs`) and returns its exit and output. */
export async function runProcess(command: string, args: readonly string[], options: StartOptions & { timeoutMs?: number } = {}): Promise<ProcessResult> {
  const p = startProcess(command, args, options);
  try {
    return await p.waitForExit(options.timeoutMs ?? 15_000);
  } finally {
    await p.stop();
  }
}

/** Kills every process started here that still runs (call in afterEach/afterAll). */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

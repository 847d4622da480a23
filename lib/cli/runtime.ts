/**
 * Process plumbing shared by the commands: shutdown signals, a deadline for `--timeout`, and line
 * output that respects backpressure on stdout.
 */
const SIGNAL_NUMBERS: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 2, SIGTERM: 15 };

/** Resolves on the first SIGINT or SIGTERM; a second one ends the process at once (128 + signal number). */
export class ShutdownSignal {
  /** The first signal received. */
  readonly received: Promise<NodeJS.Signals>;
  private resolve!: (signal: NodeJS.Signals) => void;
  private got: NodeJS.Signals | undefined;

  constructor() {
    this.received = new Promise<NodeJS.Signals>((resolve) => {
      this.resolve = resolve;
    });
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** The signal received so far, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.got;
  }

  /** Removes the signal handlers (the default action — exiting — applies again). */
  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.got !== undefined) {
      // The user insists: a clean shutdown is taking too long.
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(128 + SIGNAL_NUMBERS[signal as 'SIGINT' | 'SIGTERM']);
    }
    this.got = signal;
    this.resolve(signal);
  };
}

/** Runs `onExpire` once after `ms` (never when `ms` is undefined) unless cleared first. */
export class Deadline {
  private timer: NodeJS.Timeout | undefined;
  private hit = false;

  constructor(readonly ms: number | undefined, onExpire: () => void) {
    if (ms === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.hit = true;
      onExpire();
    }, ms);
  }

  /** Whether the deadline passed. */
  get expired(): boolean {
    return this.hit;
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Writes lines to a stream, waiting for 'drain' when its buffer is full so that a slow reader of
 * our stdout slows down message consumption instead of growing memory.
 */
export class LineWriter {
  private broken: Error | undefined;

  constructor(private readonly stream: NodeJS.WritableStream) {
    // EPIPE (e.g. `| head -1` closed the pipe) arrives as an error event; without a listener it would crash.
    stream.on('error', (err: Error) => {
      this.broken = err;
    });
  }

  /** The write error (EPIPE …) that ended the output, if any. */
  get error(): Error | undefined {
    return this.broken;
  }

  /** Writes `text` and a newline; resolves once the stream can take more. */
  async line(text: string): Promise<void> {
    if (this.broken !== undefined) return;
    if (this.stream.write(`${text}\n`)) return;
    const stream = this.stream;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  }

  /** Writes without waiting (for rare status lines). */
  lineNow(text: string): void {
    if (this.broken === undefined) this.stream.write(`${text}\n`);
  }
}

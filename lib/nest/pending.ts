import type { WritePacket } from '@nestjs/microservices';
import type { RequestTelemetry } from './observability/transport-telemetry.js';

/** A `send()` waiting for its response. */
export interface PendingRequest {
  readonly topic: string;
  readonly callback: (packet: WritePacket) => void;
  /** Its span, start time and outcome while tracing or metrics record (else undefined). */
  readonly telemetry?: RequestTelemetry;
  /** `performance.now()` after which it times out (Infinity: never). */
  deadline: number;
  /**
   * Connection epoch in which the broker took the request (PUBACK, or written for QoS 0); -1
   * while the client still holds it. A request taken before a connection loss can only be
   * answered if the session survived.
   */
  epoch: number;
  /**
   * This request's own timeout (ms; 0 = none) when it differs from the shared one (a record's
   * `setTimeout()`): it then has its own timer and stays out of the shared deadline order.
   */
  timeout?: number;
  /** The timer of a request with its own timeout. */
  timer?: NodeJS.Timeout;
  /** Times the broker answered it with 0x10 No matching subscribers (see no-responders.ts). */
  noResponders?: number;
}

/**
 * The requests of one client waiting for their responses, with their timeouts.
 *
 * All requests share one timeout, so deadlines grow in insertion order and a Map (which keeps
 * insertion order) is also the deadline queue; a request whose deadline is pushed back (a stream
 * value arrived) is moved to the end. One timer, armed for the oldest deadline, replaces a timer
 * per request — the per-request cost is a clock read and two Map operations. A request with its
 * own timeout (set per call) is kept in the same Map but has its own timer; the sweep skips it.
 */
export class PendingRequests<K> {
  private readonly map = new Map<K, PendingRequest>();
  private timer: NodeJS.Timeout | undefined;
  /** True while expired requests are being failed (their callbacks may add requests). */
  private sweeping = false;

  constructor(
    /** Timeout in ms; 0 = none. */
    private readonly timeout: number,
    /** Called with each request that timed out (already removed). */
    private readonly onTimeout: (request: PendingRequest) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(id: K): PendingRequest | undefined {
    return this.map.get(id);
  }

  values(): IterableIterator<[K, PendingRequest]> {
    return this.map.entries();
  }

  add(id: K, request: PendingRequest): void {
    if (request.timeout !== undefined && request.timeout !== this.timeout) {
      this.map.set(id, request);
      this.armOwn(id, request);
      return;
    }
    request.timeout = undefined;
    request.deadline = this.timeout > 0 ? performance.now() + this.timeout : Infinity;
    this.map.set(id, request);
    if (this.timer === undefined && !this.sweeping && request.deadline !== Infinity) this.arm(request.deadline);
  }

  /** Pushes the deadline back (a response arrived and more are expected). */
  touch(id: K, request: PendingRequest): void {
    if (request.timeout !== undefined) {
      if (this.map.get(id) === request) this.armOwn(id, request);
      return;
    }
    if (this.timeout <= 0 || this.map.get(id) !== request) return;
    this.map.delete(id);
    request.deadline = performance.now() + this.timeout;
    this.map.set(id, request);
  }

  /** Removes the request if it is still the one registered under `id`. Returns whether it was. */
  delete(id: K, request: PendingRequest): boolean {
    if (this.map.get(id) !== request) return false;
    this.map.delete(id);
    if (request.timer !== undefined) clearTimeout(request.timer);
    if (this.map.size === 0) this.disarm();
    return true;
  }

  /** Removes and returns every request. */
  clear(): PendingRequest[] {
    const all = [...this.map.values()];
    this.map.clear();
    for (const request of all) if (request.timer !== undefined) clearTimeout(request.timer);
    this.disarm();
    return all;
  }

  /** (Re)arms the own timer of a request with a per-call timeout. */
  private armOwn(id: K, request: PendingRequest): void {
    if (request.timer !== undefined) clearTimeout(request.timer);
    request.timer = undefined;
    const ms = request.timeout!;
    request.deadline = ms > 0 ? performance.now() + ms : Infinity;
    if (ms <= 0) return;
    request.timer = setTimeout(() => {
      request.timer = undefined;
      if (this.map.get(id) !== request) return;
      this.map.delete(id);
      if (this.map.size === 0) this.disarm();
      this.onTimeout(request);
    }, ms);
  }

  private arm(at: number): void {
    this.timer = setTimeout(this.sweep, Math.max(0, at - performance.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    const now = performance.now();
    this.sweeping = true;
    try {
      for (const [id, request] of this.map) {
        if (request.timeout !== undefined) continue; // has its own timer
        if (request.deadline > now) {
          this.arm(request.deadline);
          return;
        }
        this.map.delete(id);
        this.onTimeout(request);
      }
    } finally {
      this.sweeping = false;
    }
  };
}

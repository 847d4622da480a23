/**
 * Will messages (spec 3.1.3.2). When a connection ends without DISCONNECT 0x00, its will is published
 * after the Will Delay Interval, or when the session ends if that comes first; a new connection to
 * the same session before then cancels it.
 */
import type { Properties, Will } from '../codec/index.js';
import type { ClientInfo } from './auth.js';
import type { Session } from './session.js';
import { setLongTimeout, type LongTimer } from './timers.js';

interface PendingWill {
  readonly will: Will;
  readonly client: ClientInfo;
  readonly timer: LongTimer;
}

/** The PUBLISH properties of a will: its will properties without the Will Delay Interval. */
export function willPublishProperties(props: Properties | undefined): Properties | undefined {
  if (props === undefined || props.willDelayInterval === undefined) return props;
  const { willDelayInterval: _delay, ...rest } = props;
  for (const _k in rest) return rest;
  return undefined;
}

/** Delayed wills, one per session at most. */
export class WillScheduler {
  private readonly pending = new Map<Session, PendingWill>();

  constructor(private readonly publish: (will: Will, client: ClientInfo, session: Session) => void) {}

  /** Number of wills waiting for their delay. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * The connection of `session` ended without a normal DISCONNECT: publish `will` after
   * min(Will Delay Interval, session expiry interval) seconds — now when that is 0.
   */
  schedule(session: Session, will: Will, client: ClientInfo, delayMs?: number): void {
    this.cancel(session);
    // `delayMs`: what is left of the delay of a will restored from the broker store.
    const delay = delayMs ?? Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval) * 1000;
    if (delay <= 0) {
      this.publish(will, client, session);
      return;
    }
    const timer = setLongTimeout(() => {
      this.pending.delete(session);
      this.publish(will, client, session);
    }, delay);
    this.pending.set(session, { will, client, timer });
  }

  /** The will of `session` waiting for its delay, or null. */
  pendingFor(session: Session): Will | null {
    return this.pending.get(session)?.will ?? null;
  }

  /** A new connection took the session over in time: the will is not sent. Returns whether one was pending. */
  cancel(session: Session): boolean {
    const p = this.pending.get(session);
    if (p === undefined) return false;
    p.timer.cancel();
    this.pending.delete(session);
    return true;
  }

  /** The session ends: a pending will is published now. */
  fire(session: Session): void {
    const p = this.pending.get(session);
    if (p === undefined) return;
    p.timer.cancel();
    this.pending.delete(session);
    this.publish(p.will, p.client, session);
  }

  /** Publishes every pending will now (broker shutdown: a delay cannot outlast the broker). */
  fireAll(): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const [session, p] of all) {
      p.timer.cancel();
      this.publish(p.will, p.client, session);
    }
  }

  /** Forgets every pending will without publishing. */
  clear(): void {
    for (const p of this.pending.values()) p.timer.cancel();
    this.pending.clear();
  }
}

/**
 * The observable an `emit()` returns, and the deadline of an `emit()` with a per-call timeout. Apart
 * from client-proxy.ts to keep that file to the proxy's own flow.
 */
import { Observable, type Subscriber } from 'rxjs';
import type { PublishResult } from '../client/index.js';
import { toTransportError } from './transport-errors.js';

/** `promise`, or `error()` after `ms` when it has not settled by then. */
export function withDeadline<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * The observable of one `emit()`: yields `undefined` (or, with `reasonCodes`, the acknowledgement's
 * reason code — never the internal ack packet) and completes, for whoever subscribes, now or
 * later; no subscriber is not an error. One reaction on the publish promise serves the usual
 * case — a subscriber that subscribed before the broker's acknowledgement — rather than a `catch`
 * plus a `then` per subscriber (two extra promises per event on the hottest path of the client).
 * A subscriber arriving after the outcome still gets it asynchronously, as before.
 */
export function eventObservable<T>(published: Promise<PublishResult>, reasonCodes: boolean, onSettled: () => void): Observable<T> {
  let settled = false;
  let failed = false;
  let outcome: unknown;
  // Almost always zero or one subscriber: no array unless there are more.
  let first: Subscriber<T> | undefined;
  let more: Subscriber<T>[] | undefined;
  const deliver = (subscriber: Subscriber<T>): void => {
    if (failed) {
      subscriber.error(outcome);
    } else {
      subscriber.next(outcome as T);
      subscriber.complete();
    }
  };
  const settle = (isError: boolean, value: unknown): void => {
    onSettled();
    settled = true;
    failed = isError;
    outcome = value;
    const waiting = first;
    first = undefined;
    if (waiting !== undefined) deliver(waiting);
    if (more !== undefined) {
      const rest = more;
      more = undefined;
      for (const subscriber of rest) deliver(subscriber);
    }
  };
  published.then(
    (ack) => settle(false, reasonCodes && ack !== undefined ? (ack.reasonCode ?? 0) : undefined),
    (err: unknown) => settle(true, toTransportError(err)),
  );
  return new Observable<T>((subscriber) => {
    if (settled) {
      // Late: still asynchronous, like a reaction on a settled promise.
      void published.then(() => deliver(subscriber), () => deliver(subscriber));
    } else if (first === undefined) {
      first = subscriber;
    } else {
      (more ??= []).push(subscriber);
    }
  });
}

/**
 * SUBSCRIBE and UNSUBSCRIBE (spec 3.8, 3.10): feature and quota checks, the authorizeSubscribe hook,
 * the subscription trie, SUBACK/UNSUBACK, then retained messages per Retain Handling.
 */
import {
  MqttProtocolError,
  PacketType,
  isReasonCodeAllowed,
  type QoS,
  type SubscribePacket,
  type Subscription,
  type UnsubscribePacket,
} from '../codec/index.js';
import { isThenable, type AuthorizeSubscribeResult } from './auth.js';
import { ConnState, type ProtocolConnection as Connection } from './connection-contract.js';
import { HookError } from './errors.js';

/** A granted subscription whose retained messages are to be sent after SUBACK. */
interface RetainedRequest {
  filter: string;
  qos: QoS;
  subscriptionId: number;
}

/**
 * Runs `work`, which calls `finish` at its very end. If it has not finished synchronously (a hook
 * answered with a promise), the connection is blocked until it has, so that later packets wait their turn.
 */
function runInOrder(conn: Connection, work: (finish: () => void) => Promise<void>): void {
  let finished = false;
  const done = work(() => {
    finished = true;
  });
  if (finished) return;
  conn.block();
  done.then(
    () => conn.unblock(),
    (err: unknown) => {
      conn.fail(err);
      conn.unblock();
    },
  );
}

/** Handles SUBSCRIBE. */
export function handleSubscribe(conn: Connection, p: SubscribePacket): void {
  const opts = conn.host.options;
  const sid = p.properties?.subscriptionIdentifier;
  if (sid !== undefined && !opts.subscriptionIdentifiersAvailable) {
    throw new MqttProtocolError(0xa1, 'subscription identifiers are not supported');
  }
  const subscriptionId = typeof sid === 'number' ? sid : 0;
  if (opts.authorizeSubscribe === undefined) {
    const codes: number[] = [];
    const retained: RetainedRequest[] = [];
    for (const sub of p.subscriptions) {
      const pre = precheck(conn, sub);
      codes.push(pre !== -1 ? pre : subscribeOne(conn, sub, subscriptionId, true, retained));
    }
    finishSubscribe(conn, p, codes, retained);
    return;
  }
  runInOrder(conn, async (finish) => {
    const codes: number[] = [];
    const retained: RetainedRequest[] = [];
    for (const sub of p.subscriptions) {
      const pre = precheck(conn, sub);
      if (pre !== -1) {
        codes.push(pre);
        continue;
      }
      let r: AuthorizeSubscribeResult;
      try {
        const x = opts.authorizeSubscribe!(conn.info, sub);
        r = isThenable(x) ? await x : x;
      } catch (err) {
        conn.host.clientError(conn.info, new HookError('authorizeSubscribe', 0x80, err));
        r = 0x80;
      }
      if (conn.state === ConnState.Closed) return;
      const code = subscribeOne(conn, sub, subscriptionId, r, retained);
      // A refusal here is the hook's (prechecks answered above): counted as an authorisation denial.
      if (code >= 0x80) conn.host.denied(conn.info, 'subscribe', sub.topicFilter, code);
      codes.push(code);
    }
    finishSubscribe(conn, p, codes, retained);
    finish();
  });
}

function finishSubscribe(conn: Connection, p: SubscribePacket, codes: number[], retained: RetainedRequest[]): void {
  const refused = codes.some((c) => c >= 0x80);
  conn.sendPacket({
    type: PacketType.SUBACK,
    packetId: p.packetId,
    reasonCodes: codes,
    properties: refused ? conn.problem('some subscriptions were refused') : undefined,
  });
  const session = conn.session!;
  for (const r of retained) conn.host.sendRetained(session, r.filter, r.qos, r.subscriptionId);
  conn.host.events.emit('subscribe', conn.info, p.subscriptions, codes);
}

/** Checks the broker's features and quotas; returns a SUBACK failure code, or -1 when the filter may go ahead. */
function precheck(conn: Connection, sub: Subscription): number {
  const opts = conn.host.options;
  const filter = sub.topicFilter;
  const shared = filter.startsWith('$share/');
  if (shared && !opts.sharedSubscriptionAvailable) return 0x9e;
  if (!opts.wildcardSubscriptionAvailable && (filter.includes('+') || filter.includes('#'))) return 0xa2;
  const subs = conn.session!.subscriptions;
  if (subs !== null && subs.size >= opts.maxSubscriptionsPerClient && !subs.has(filter)) return 0x97;
  return -1;
}

/** Applies one subscription (prechecked) after the hook's verdict; returns its SUBACK reason code. */
function subscribeOne(conn: Connection, sub: Subscription, subscriptionId: number, verdict: AuthorizeSubscribeResult, retained: RetainedRequest[]): number {
  const core = conn.host;
  let qos = Math.min(sub.qos, core.options.maximumQoS) as QoS;
  if (verdict === false) return 0x87;
  if (typeof verdict === 'number') {
    if (verdict >= 0x80) return isReasonCodeAllowed(PacketType.SUBACK, verdict) ? verdict : 0x87;
    if (verdict > 2) return 0x87;
    if (verdict < qos) qos = verdict as QoS;
  }
  const session = conn.session!;
  const { entry, existed } = core.tree.add(sub.topicFilter, session, {
    qos,
    noLocal: sub.noLocal ?? false,
    retainAsPublished: sub.retainAsPublished ?? false,
    retainHandling: sub.retainHandling ?? 0,
    subscriptionId,
    deliverIf: deliveryCheck(conn, sub),
  });
  (session.subscriptions ??= new Map()).set(sub.topicFilter, entry);
  // Staged before SUBACK, which waits for the commit (see Persistence).
  core.persistence?.subscriptionChanged(session, sub.topicFilter, entry);
  if (entry.group !== null) {
    if (!existed) session.sharedCount++;
    // Retained messages are not sent for shared subscriptions (spec 4.8.2).
  } else {
    const rh = entry.retainHandling;
    if (rh === 0 || (rh === 1 && !existed)) retained.push({ filter: sub.topicFilter, qos, subscriptionId });
  }
  return qos;
}

/** The per-message read check of a granted subscription (options.deliveryFilter), or null: none needed. */
function deliveryCheck(conn: Connection, sub: Subscription): ((topic: string) => boolean) | null {
  const filter = conn.host.options.deliveryFilter;
  if (filter === undefined || sub.topicFilter.startsWith('$share/')) return null;
  return filter(conn.info, sub) ?? null;
}

/** Handles UNSUBSCRIBE. */
export function handleUnsubscribe(conn: Connection, p: UnsubscribePacket): void {
  const session = conn.session!;
  const core = conn.host;
  const codes: number[] = [];
  for (const filter of p.topicFilters) {
    const entry = session.subscriptions?.get(filter);
    if (entry === undefined) {
      codes.push(0x11);
      continue;
    }
    core.tree.remove(filter, session);
    session.subscriptions!.delete(filter);
    core.persistence?.subscriptionChanged(session, filter, null);
    // sharedCount is not decreased: deliveries made through the shared subscription may still be in
    // flight, unacknowledged, and must go to another member when the connection ends (a replica
    // shutting down gracefully unsubscribes first, then disconnects).
    codes.push(0);
  }
  if (session.subscriptions?.size === 0) session.subscriptions = null;
  conn.sendPacket({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: codes });
  core.events.emit('unsubscribe', conn.info, p.topicFilters, codes);
}

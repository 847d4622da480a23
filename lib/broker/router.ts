/**
 * Routing of one message to the sessions whose subscriptions match its topic.
 *
 * Overlapping subscriptions of one session (spec 4.8.1 allows either behaviour) yield one PUBLISH with
 * the highest granted QoS, the identifiers of every matching subscription, and the retain flag kept if
 * any matching subscription has Retain As Published. No Local subscriptions skip the publisher's own
 * session. Each shared group delivers to one member, round robin, preferring connected members whose
 * socket is not full.
 *
 * Flow control: every subscriber has its own bounded queue, so a stuck one costs only its own queue
 * (and drops or refusals for it) — the others keep receiving. The publisher is held back only when
 * *every* route of its message is backed up (connected, queue at least half full, not yet declared a
 * slow consumer; routes declared slow do not count, but at least one backed-up route must remain): then
 * nobody could take its messages anyway, and waiting beats dropping.
 */
import type { QoS } from '../codec/index.js';
import type { Message } from './message.js';
import type { Session } from './session.js';
import type { SharedGroup, SubscriptionEntry, TopicTree } from './topic-tree.js';

/** Reusable arrays for one routing call (a nested call, e.g. from an event listener, gets its own). */
class Scratch {
  readonly sessions: (Session | undefined)[] = [];
  readonly qos: number[] = [];
  readonly rap: boolean[] = [];
  readonly ids: (number | number[] | undefined)[] = [];
  /** Members picked in shared groups (for the flow-control check). */
  readonly picked: (Session | undefined)[] = [];
}

/** What the router needs from the broker: holding a publisher back while all its routes are backed up. */
export interface RouterHost {
  /** Every one of `routes[0..count)` is backed up: hold back the client that published (flow control). */
  holdBack(publisher: object | null, routes: readonly (Session | undefined)[], count: number): void;
}

/** {@link Router.route}'s answer when a route refused a QoS 1/2 message (the publisher gets 0x97). */
export const REFUSED = -1;

/** How a route weighs in flow control: it can take more, it is backed up, or it is a slow consumer (it no longer counts). */
const OPEN = 0;
const BACKED_UP = 1;
const SLOW = 2;

function routeState(s: Session): number {
  if (!s.backedUp) return OPEN;
  const t = s.throttle;
  return t !== null && t.slow ? SLOW : BACKED_UP;
}

/** A member is preferred when its client is connected and can take a message right now. */
export function isMemberAvailable(e: SubscriptionEntry<Session>): boolean {
  const link = e.owner.link;
  return link !== null && !link.congested;
}

/** The subscriptions and shared groups matching one topic, as of one version of the tree. */
interface Match {
  readonly entries: SubscriptionEntry<Session>[];
  readonly groups: SharedGroup<Session>[];
}

/** Topics whose match results are kept; past it the cache starts over (a flood of distinct topics costs one match each). */
const MATCH_CACHE_SIZE = 4096;

/** Matches messages against the subscription tree and hands them to sessions. */
export class Router {
  private stamp = 0;
  private depth = 0;
  private readonly scratch: Scratch[] = [];
  // Match results by topic, valid while the tree keeps the version they were made at: most traffic
  // goes to topics seen before, and a lookup here is cheaper than walking the trie.
  private readonly cache = new Map<string, Match>();
  private cacheVersion = -1;

  constructor(
    private readonly tree: TopicTree<Session>,
    private readonly host: RouterHost,
  ) {}

  private match(topic: string): Match {
    const cache = this.cache;
    if (this.cacheVersion !== this.tree.version) {
      cache.clear();
      this.cacheVersion = this.tree.version;
    }
    let m = cache.get(topic);
    if (m === undefined) {
      m = { entries: [], groups: [] };
      this.tree.match(topic, m.entries, m.groups);
      if (cache.size >= MATCH_CACHE_SIZE) cache.clear();
      cache.set(topic, m);
    }
    return m;
  }

  /**
   * Delivers `msg` to every matching subscription; returns how many sessions it went to, or
   * {@link REFUSED} when a route could not keep it at QoS 1/2 (the others did get it).
   */
  route(msg: Message): number {
    const s = (this.scratch[this.depth] ??= new Scratch());
    this.depth++;
    try {
      const match = this.match(msg.topic);
      const n = this.dedupe(msg, match.entries, s);
      const { sessions, qos, rap, ids, picked } = s;
      const msgQos = msg.qos;
      let refused = false;
      // Open route seen: nobody is held back. Otherwise: whether a backed-up (not slow) route was seen.
      let open = false;
      let backedUp = false;
      for (let k = 0; k < n; k++) {
        const session = sessions[k]!;
        const q = qos[k]! < msgQos ? qos[k]! : msgQos;
        if (!session.deliver(msg, q as QoS, rap[k]! && msg.retain, ids[k], null)) refused = true;
        ids[k] = undefined;
        if (!open) {
          const st = routeState(session);
          if (st === OPEN) open = true;
          else if (st === BACKED_UP) backedUp = true;
        }
      }
      let delivered = n;
      let p = 0;
      const groups = match.groups;
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i]!;
        const m = g.pick(isMemberAvailable);
        if (m === undefined) continue;
        const owner = m.owner;
        if (!owner.deliver(msg, (m.qos < msgQos ? m.qos : msgQos) as QoS, m.retainAsPublished && msg.retain, m.subscriptionId === 0 ? undefined : m.subscriptionId, g)) refused = true;
        if (!open) {
          const st = routeState(owner);
          if (st === OPEN) open = true;
          else if (st === BACKED_UP) backedUp = true;
        }
        picked[p++] = owner;
        delivered++;
      }
      if (!open && backedUp) {
        // Rare (every route congested): the slow path may look at the routes again.
        for (let k = 0; k < p; k++) sessions[n + k] = picked[k];
        this.host.holdBack(msg.origin, sessions, n + p);
      }
      for (let k = 0; k < n + p; k++) sessions[k] = undefined;
      for (let k = 0; k < p; k++) picked[k] = undefined;
      return refused ? REFUSED : delivered;
    } finally {
      this.depth--;
    }
  }

  /** Collapses the matched subscriptions to one slot per session; returns the number of slots. */
  private dedupe(msg: Message, entries: SubscriptionEntry<Session>[], s: Scratch): number {
    const stamp = ++this.stamp;
    const origin = msg.origin;
    const { sessions, qos, rap, ids } = s;
    let n = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const session = e.owner;
      if (e.noLocal && session === origin) continue;
      // Only subscriptions granted partly readable (deliveryFilter) carry a check; the rest pay one load.
      const deliverIf = e.deliverIf;
      if (deliverIf != null && !deliverIf(msg.topic)) continue;
      const id = e.subscriptionId;
      if (session.routeStamp !== stamp) {
        session.routeStamp = stamp;
        session.routeSlot = n;
        sessions[n] = session;
        qos[n] = e.qos;
        rap[n] = e.retainAsPublished;
        ids[n] = id === 0 ? undefined : id;
        n++;
      } else {
        const k = session.routeSlot;
        if (e.qos > qos[k]!) qos[k] = e.qos;
        if (e.retainAsPublished) rap[k] = true;
        if (id !== 0) {
          const prev = ids[k];
          if (prev === undefined) ids[k] = id;
          else if (typeof prev === 'number') ids[k] = prev === id ? prev : [prev, id];
          else if (!prev.includes(id)) prev.push(id);
        }
      }
    }
    return n;
  }
}

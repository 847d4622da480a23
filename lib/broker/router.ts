/**
 * Routing of one message to the sessions whose subscriptions match its topic.
 *
 * Overlapping subscriptions of one session (spec 4.8.1 allows either behaviour) yield one PUBLISH with
 * the highest granted QoS, the identifiers of every matching subscription, and the retain flag kept if
 * any matching subscription has Retain As Published. No Local subscriptions skip the publisher's own
 * session. Each shared group delivers to one member, round robin, preferring connected members whose
 * socket is not full.
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

  constructor(private readonly tree: TopicTree<Session>) {}

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

  /** Delivers `msg` to every matching subscription; returns how many sessions it went to. */
  route(msg: Message): number {
    const s = (this.scratch[this.depth] ??= new Scratch());
    this.depth++;
    try {
      const match = this.match(msg.topic);
      const n = this.dedupe(msg, match.entries, s);
      const { sessions, qos, rap, ids } = s;
      const msgQos = msg.qos;
      for (let k = 0; k < n; k++) {
        const session = sessions[k]!;
        sessions[k] = undefined;
        const q = qos[k]! < msgQos ? qos[k]! : msgQos;
        session.deliver(msg, q as QoS, rap[k]! && msg.retain, ids[k], null);
        ids[k] = undefined;
      }
      let delivered = n;
      const groups = match.groups;
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i]!;
        const m = g.pick(isMemberAvailable);
        if (m === undefined) continue;
        m.owner.deliver(msg, (m.qos < msgQos ? m.qos : msgQos) as QoS, m.retainAsPublished && msg.retain, m.subscriptionId === 0 ? undefined : m.subscriptionId, g);
        delivered++;
      }
      return delivered;
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

/**
 * The subscription trie. One node per topic level; `+` and `#` children are kept apart from literal
 * children, so matching a topic visits at most (literal + `+`) branches per level: the cost grows with
 * the depth of the topic and the number of matching wildcard branches, never with the number of
 * subscriptions. Shared subscriptions (`$share/<group>/<filter>`) hang off the node of their filter as
 * groups, each delivering a message to one member in turn.
 */
import { parseSharedSubscription, type QoS } from '../codec/index.js';

/** The subscription options of one topic filter of one session (spec 3.8.3.1). */
export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** The Subscription Identifier given with it, or 0 for none. */
  subscriptionId: number;
  /** A per-message read check (options.deliveryFilter) when only some topics may be delivered; null/absent: all. */
  deliverIf?: ((topic: string) => boolean) | null;
}

/** A subscription in the tree. Its options are updated in place when the owner subscribes again. */
export interface SubscriptionEntry<S> extends SubscriptionOptions {
  readonly owner: S;
  /** The filter as subscribed, `$share/<group>/` prefix included. */
  readonly topicFilter: string;
  /** The shared group this subscription belongs to, or null for an ordinary subscription. */
  readonly group: SharedGroup<S> | null;
}

/** The members of one `$share/<name>/<filter>`. Each message goes to one member, in turn. */
export class SharedGroup<S> {
  readonly members: SubscriptionEntry<S>[] = [];
  /** The subscription as a member writes it: `$share/{name}/{filter}` (stored with its deliveries). */
  readonly subscription: string;
  private cursor = 0;
  constructor(
    readonly name: string,
    readonly filter: string,
  ) {
    this.subscription = `$share/${name}/${filter}`;
  }

  /**
   * The next member in round-robin order, preferring one for which `preferred` holds (e.g. connected and
   * not congested) and skipping `exclude`; falls back to the first other member when none is preferred.
   */
  pick(preferred: (entry: SubscriptionEntry<S>) => boolean, exclude: S | null = null): SubscriptionEntry<S> | undefined {
    const members = this.members;
    const n = members.length;
    let fallback = -1;
    for (let k = 0; k < n; k++) {
      const idx = (this.cursor + k) % n;
      const m = members[idx]!;
      if (m.owner === exclude) continue;
      if (preferred(m)) {
        this.cursor = idx + 1;
        return m;
      }
      if (fallback === -1) fallback = idx;
    }
    if (fallback === -1) return undefined;
    this.cursor = fallback + 1;
    return members[fallback];
  }
}

class TreeNode<S> {
  children: Map<string, TreeNode<S>> | null = null;
  plus: TreeNode<S> | null = null;
  hash: TreeNode<S> | null = null;
  subs: Map<S, SubscriptionEntry<S>> | null = null;
  shared: Map<string, SharedGroup<S>> | null = null;
  constructor(
    readonly parent: TreeNode<S> | null,
    readonly level: string,
  ) {}

  isEmpty(): boolean {
    return (
      (this.children === null || this.children.size === 0) &&
      this.plus === null &&
      this.hash === null &&
      (this.subs === null || this.subs.size === 0) &&
      (this.shared === null || this.shared.size === 0)
    );
  }
}

/** Result of {@link TopicTree.add}. */
export interface AddResult<S> {
  entry: SubscriptionEntry<S>;
  /** Whether the owner already had a subscription to this exact filter (its options were replaced). */
  existed: boolean;
}

/** The subscription trie, generic over the subscription owner (the broker uses its sessions). */
export class TopicTree<S> {
  private readonly root = new TreeNode<S>(null, '');
  private count = 0;
  /** Bumped on every change, so that cached match results can tell they are stale. */
  version = 0;
  /**
   * Trie nodes the last {@link match} visited: the measure of its cost (it depends on the topic's depth
   * and the wildcard branches on its path, not on the number of subscriptions). For tests and diagnostics.
   */
  lastMatchVisits = 0;
  // Explicit DFS stack: a deep topic must not overflow the call stack.
  private readonly stackNodes: (TreeNode<S> | undefined)[] = [];
  private readonly stackDepth: number[] = [];

  /** Number of subscriptions (shared members included). */
  get size(): number {
    return this.count;
  }

  /**
   * Adds (or updates) `owner`'s subscription to `topicFilter` (which must be valid; `$share/…` allowed).
   * Throws MqttProtocolError 0x8F for a malformed shared subscription.
   */
  add(topicFilter: string, owner: S, options: SubscriptionOptions): AddResult<S> {
    this.version++;
    const shared = parseSharedSubscription(topicFilter);
    const node = this.nodeFor(shared === undefined ? topicFilter : shared.filter, true)!;
    if (shared === undefined) {
      const subs = (node.subs ??= new Map());
      const existing = subs.get(owner);
      if (existing !== undefined) {
        Object.assign(existing, options);
        return { entry: existing, existed: true };
      }
      const entry: SubscriptionEntry<S> = { owner, topicFilter, group: null, ...options };
      subs.set(owner, entry);
      this.count++;
      return { entry, existed: false };
    }
    const groups = (node.shared ??= new Map());
    let group = groups.get(shared.group);
    if (group === undefined) {
      group = new SharedGroup<S>(shared.group, shared.filter);
      groups.set(shared.group, group);
    }
    const existing = group.members.find((m: SubscriptionEntry<S>) => m.owner === owner);
    if (existing !== undefined) {
      Object.assign(existing, options);
      return { entry: existing, existed: true };
    }
    const entry: SubscriptionEntry<S> = { owner, topicFilter, group, ...options };
    group.members.push(entry);
    this.count++;
    return { entry, existed: false };
  }

  /** Removes `owner`'s subscription to `topicFilter`; returns whether there was one. */
  remove(topicFilter: string, owner: S): boolean {
    const shared = parseSharedSubscription(topicFilter);
    const node = this.nodeFor(shared === undefined ? topicFilter : shared.filter, false);
    if (node === undefined) return false;
    let removed = false;
    if (shared === undefined) {
      removed = node.subs?.delete(owner) ?? false;
    } else {
      const group = node.shared?.get(shared.group);
      if (group !== undefined) {
        const i = group.members.findIndex((m) => m.owner === owner);
        if (i !== -1) {
          group.members.splice(i, 1);
          removed = true;
          if (group.members.length === 0) node.shared!.delete(shared.group);
        }
      }
    }
    if (removed) {
      this.count--;
      this.version++;
      this.prune(node);
    }
    return removed;
  }

  /** The subscription of `owner` to exactly `topicFilter`, if any. */
  get(topicFilter: string, owner: S): SubscriptionEntry<S> | undefined {
    const shared = parseSharedSubscription(topicFilter);
    const node = this.nodeFor(shared === undefined ? topicFilter : shared.filter, false);
    if (node === undefined) return undefined;
    if (shared === undefined) return node.subs?.get(owner);
    return node.shared?.get(shared.group)?.members.find((m) => m.owner === owner);
  }

  /**
   * Appends every ordinary subscription matching `topic` to `out` and every matching shared group to
   * `groupsOut`. A topic starting with `$` is not matched by a filter starting with a wildcard.
   */
  match(topic: string, out: SubscriptionEntry<S>[], groupsOut: SharedGroup<S>[]): void {
    const levels = topic.split('/');
    const n = levels.length;
    const dollar = topic.charCodeAt(0) === 0x24;
    const nodes = this.stackNodes;
    const depths = this.stackDepth;
    let visits = 0;
    nodes[0] = this.root;
    depths[0] = 0;
    let sp = 1;
    while (sp > 0) {
      sp--;
      visits++;
      const node = nodes[sp]!;
      nodes[sp] = undefined;
      const i = depths[sp]!;
      const wild = i !== 0 || !dollar;
      // `x/#` matches `x` itself and everything below it.
      if (node.hash !== null && wild) collect(node.hash, out, groupsOut);
      if (i === n) {
        collect(node, out, groupsOut);
        continue;
      }
      if (node.plus !== null && wild) {
        nodes[sp] = node.plus;
        depths[sp++] = i + 1;
      }
      if (node.children !== null) {
        const child = node.children.get(levels[i]!);
        if (child !== undefined) {
          nodes[sp] = child;
          depths[sp++] = i + 1;
        }
      }
    }
    this.lastMatchVisits = visits;
  }

  private nodeFor(filter: string, create: boolean): TreeNode<S> | undefined {
    let node = this.root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const level = slash === -1 ? filter.slice(start) : filter.slice(start, slash);
      let next: TreeNode<S> | null | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === null && create) next = node.plus = new TreeNode(node, level);
      } else if (level === '#') {
        next = node.hash;
        if (next === null && create) next = node.hash = new TreeNode(node, level);
      } else {
        next = node.children?.get(level);
        if (next === undefined && create) {
          next = new TreeNode(node, level);
          (node.children ??= new Map()).set(level, next);
        }
      }
      if (next === null || next === undefined) return undefined;
      node = next;
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  /** Removes `node` and its ancestors while they hold nothing. */
  private prune(node: TreeNode<S>): void {
    let n: TreeNode<S> = node;
    while (n.parent !== null && n.isEmpty()) {
      const p = n.parent;
      if (p.plus === n) p.plus = null;
      else if (p.hash === n) p.hash = null;
      else p.children?.delete(n.level);
      n = p;
    }
    if (node.subs !== null && node.subs.size === 0) node.subs = null;
    if (node.shared !== null && node.shared.size === 0) node.shared = null;
  }
}

function collect<S>(node: TreeNode<S>, out: SubscriptionEntry<S>[], groupsOut: SharedGroup<S>[]): void {
  if (node.subs !== null) for (const e of node.subs.values()) out.push(e);
  if (node.shared !== null) for (const g of node.shared.values()) groupsOut.push(g);
}

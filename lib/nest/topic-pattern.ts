/**
 * Handler patterns → MQTT subscriptions, and the values a topic gave a pattern's wildcards.
 */
import { isValidTopicFilter, parseSharedSubscription, type QoS, type Subscription } from '../codec/index.js';
import { DEFAULT_QOS } from './constants.js';
import { Mqtt5InvalidTopicError } from './errors.js';
import type { Mqtt5PatternExtras, Mqtt5SubscribeDefaults } from './options.js';

/** What a handler pattern subscribes to. */
export interface PatternSubscription {
  /** The pattern topics are matched against (no `$share/` prefix), e.g. `jobs/#`. */
  pattern: string;
  /** The share group, when shared. */
  group: string | undefined;
  /** The SUBSCRIBE entry: `topicFilter` is `$share/<group>/<pattern>` when shared. */
  subscription: Subscription;
}

/**
 * Builds the subscription of a handler from its pattern (which may itself be a
 * `$share/<group>/<filter>`), its decorator extras and the server defaults. Extras win over
 * defaults; `share: false` opts out of a default group. Throws Mqtt5InvalidTopicError (0x8F)
 * for an invalid filter, and for `noLocal` on a shared subscription (a protocol error, spec 3.8.3.1).
 */
export function buildSubscription(
  rawPattern: string,
  extras: Mqtt5PatternExtras | undefined,
  defaults: Mqtt5SubscribeDefaults | undefined,
): PatternSubscription {
  let pattern = rawPattern;
  let group: string | undefined;
  let shared;
  try {
    shared = parseSharedSubscription(rawPattern);
  } catch {
    // parseSharedSubscription throws only 0x8F for a malformed $share filter: restated with the pattern.
    throw new Mqtt5InvalidTopicError(rawPattern, 0x8f, 'malformed $share/<group>/<filter>');
  }
  if (shared) {
    pattern = shared.filter;
    group = shared.group;
  } else if (extras?.share !== undefined) {
    group = extras.share === false ? undefined : extras.share;
  } else {
    group = defaults?.share;
  }
  const topicFilter = group === undefined ? pattern : `$share/${group}/${pattern}`;
  if (!isValidTopicFilter(topicFilter)) {
    throw new Mqtt5InvalidTopicError(topicFilter, 0x8f, 'not a valid MQTT topic filter');
  }
  const qos = (extras?.qos ?? defaults?.qos ?? DEFAULT_QOS) as QoS;
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new Mqtt5InvalidTopicError(topicFilter, 0x8f, `invalid QoS ${String(qos)}`);
  }
  const subscription: Subscription = { topicFilter, qos };
  const noLocal = extras?.noLocal ?? (group === undefined ? defaults?.noLocal : undefined);
  if (noLocal) {
    if (group !== undefined) throw new Mqtt5InvalidTopicError(topicFilter, 0x8f, 'noLocal is not allowed on a shared subscription');
    subscription.noLocal = true;
  }
  const retainAsPublished = extras?.retainAsPublished ?? defaults?.retainAsPublished;
  if (retainAsPublished !== undefined) subscription.retainAsPublished = retainAsPublished;
  const retainHandling = extras?.retainHandling ?? defaults?.retainHandling;
  if (retainHandling !== undefined) subscription.retainHandling = retainHandling;
  return { pattern, group, subscription };
}

/**
 * The values the wildcards of `pattern` took in `topic`: one entry per `+` level, then the
 * remainder for a trailing `#` ('' when `#` matched the parent level). Empty when the pattern
 * has no wildcard or does not match.
 */
export function wildcardValues(pattern: string, topic: string): string[] {
  const out: string[] = [];
  if (pattern.indexOf('+') < 0 && pattern.indexOf('#') < 0) return out;
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    const level = p[i];
    if (level === '#') {
      out.push(t.slice(i).join('/'));
      return out;
    }
    if (i >= t.length) return [];
    if (level === '+') out.push(t[i]!);
    else if (level !== t[i]) return [];
  }
  return p.length === t.length ? out : [];
}

/**
 * Whether some topic matches both filters (neither with a `$share/` prefix). Used to decide
 * whether subscription identifiers are needed: without overlap, each message matches exactly
 * one subscription and the broker can forward it unchanged.
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // A topic starting with '$' is not matched by a filter starting with a wildcard (spec 4.7.2):
  // a literal '$…' first level against a wildcard one cannot meet.
  const dollar = (level: string) => level.startsWith('$');
  const wild = (level: string) => level === '+' || level === '#';
  if ((dollar(x[0]!) && wild(y[0]!)) || (dollar(y[0]!) && wild(x[0]!))) return false;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === '#' || q === '#') return true;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
  if (x.length === y.length) return true;
  // 'a' and 'a/#': '#' also matches the parent level.
  const longer = x.length > y.length ? x : y;
  return longer.length === n + 1 && longer[n] === '#';
}

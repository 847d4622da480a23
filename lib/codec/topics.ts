/**
 * Topic names and topic filters (spec 4.7) and shared subscriptions (spec 4.8.2).
 * Matching walks both strings once, character by character: no split(), no allocation.
 */
import { MqttProtocolError } from './errors.js';
import { MAX_STRING_BYTES, measureUtf8, quote } from './strings.js';

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;
const SHARE_PREFIX = '$share/';

/** A shared subscription `$share/<group>/<filter>` split into its parts. */
export interface SharedSubscription {
  /** The share name: non-empty, without `/`, `+` or `#`. */
  group: string;
  /** The topic filter the group subscribes to. */
  filter: string;
}

/**
 * Common to names and filters: UTF-8 length of `s` if it is a non-empty string of well-formed UTF-8
 * without U+0000 of at most 65,535 bytes, else -1.
 */
function measureTopicString(s: string): number {
  if (typeof s !== 'string' || s.length === 0) return -1;
  const n = measureUtf8(s);
  return n >= 0 && n <= MAX_STRING_BYTES ? n : -1;
}

/**
 * Length in UTF-8 bytes of `topic` if it is a valid Topic Name (see {@link isValidTopicName}), else -1.
 * Validates and measures in one pass, for the encoder.
 */
export function measureTopicName(topic: string): number {
  if (typeof topic !== 'string' || topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) return -1;
  return measureTopicString(topic);
}

/**
 * Whether `topic` is a valid Topic Name for PUBLISH: non-empty, no wildcard (`+`, `#`), no U+0000,
 * well-formed, at most 65,535 UTF-8 bytes. (An empty topic with a Topic Alias is the encoder's concern.)
 */
export function isValidTopicName(topic: string): boolean {
  return measureTopicName(topic) > 0;
}

/** Wildcard placement in a filter without the `$share/` prefix: `#` last and alone in its level, `+` alone in its level. */
function hasValidWildcards(f: string, from: number): boolean {
  const n = f.length;
  for (let i = from; i < n; i++) {
    const c = f.charCodeAt(i);
    if (c === HASH) {
      if (i !== n - 1 || (i !== from && f.charCodeAt(i - 1) !== SLASH)) return false;
    } else if (c === PLUS) {
      if ((i !== from && f.charCodeAt(i - 1) !== SLASH) || (i !== n - 1 && f.charCodeAt(i + 1) !== SLASH)) return false;
    }
  }
  return true;
}

/**
 * Where the filter part of a `$share/<group>/<filter>` begins, or -1 when the share name is empty or
 * holds a wildcard, or no non-empty filter follows. Call only when `f` starts with `$share/`.
 */
function sharedFilterStart(f: string): number {
  const slash = f.indexOf('/', SHARE_PREFIX.length);
  if (slash <= SHARE_PREFIX.length || slash === f.length - 1) return -1;
  for (let i = SHARE_PREFIX.length; i < slash; i++) {
    const c = f.charCodeAt(i);
    if (c === PLUS || c === HASH) return -1;
  }
  return slash + 1;
}

/**
 * Length in UTF-8 bytes of `filter` if it is a valid Topic Filter (see {@link isValidTopicFilter}), else -1.
 */
export function measureTopicFilter(filter: string): number {
  const n = measureTopicString(filter);
  if (n < 0) return -1;
  if (filter.startsWith(SHARE_PREFIX)) {
    const start = sharedFilterStart(filter);
    return start !== -1 && hasValidWildcards(filter, start) ? n : -1;
  }
  return hasValidWildcards(filter, 0) ? n : -1;
}

/**
 * Whether `filter` is a valid Topic Filter for SUBSCRIBE/UNSUBSCRIBE: non-empty, well-formed, no U+0000,
 * at most 65,535 bytes, `#` only as the whole last level, `+` only as a whole level, and a
 * `$share/<group>/<filter>` with a non-empty wildcard-free group and a valid filter.
 */
export function isValidTopicFilter(filter: string): boolean {
  return measureTopicFilter(filter) > 0;
}

/** Throws MqttProtocolError 0x90 (Topic Name invalid) unless {@link isValidTopicName}. */
export function validateTopicName(topic: string): void {
  if (!isValidTopicName(topic)) {
    throw new MqttProtocolError(0x90, `Invalid topic name ${quote(topic)}`);
  }
}

/** Throws MqttProtocolError 0x8F (Topic Filter invalid) unless {@link isValidTopicFilter}. */
export function validateTopicFilter(filter: string): void {
  if (!isValidTopicFilter(filter)) {
    throw new MqttProtocolError(0x8f, `Invalid topic filter ${quote(filter)}`);
  }
}

/**
 * Splits `$share/<group>/<filter>` into group and filter. Returns undefined when `filter` is not a
 * shared subscription; throws MqttProtocolError 0x8F when it starts with `$share/` but is malformed.
 */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (typeof filter !== 'string' || !filter.startsWith(SHARE_PREFIX)) return undefined;
  if (!isValidTopicFilter(filter)) {
    throw new MqttProtocolError(0x8f, `Invalid shared subscription ${quote(filter)}`);
  }
  const start = sharedFilterStart(filter);
  return { group: filter.slice(SHARE_PREFIX.length, start - 1), filter: filter.slice(start) };
}

/**
 * Whether topic name `topic` matches topic filter `filter` (both assumed valid; a `$share/` filter must
 * be unwrapped with {@link parseSharedSubscription} first). `+` matches one whole level, `#` the rest
 * including the parent (`a/#` matches `a`), and a topic starting with `$` is not matched by a filter
 * starting with a wildcard (spec 4.7.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  if (tl !== 0 && fl !== 0 && topic.charCodeAt(0) === DOLLAR) {
    const f0 = filter.charCodeAt(0);
    if (f0 === PLUS || f0 === HASH) return false;
  }
  let fi = 0;
  let ti = 0;
  while (fi < fl) {
    const c = filter.charCodeAt(fi);
    if (c === HASH) return true;
    if (c === PLUS) {
      // One level of any content, possibly empty.
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++;
      fi++;
    } else {
      // A literal level: equal character by character up to the filter's next '/'.
      while (fi < fl) {
        const fc = filter.charCodeAt(fi);
        if (fc === SLASH) break;
        if (ti === tl || topic.charCodeAt(ti) !== fc) return false;
        fi++;
        ti++;
      }
      if (ti !== tl && topic.charCodeAt(ti) !== SLASH) return false;
    }
    // Both are at the end of a level: at a '/' or at the end of the string.
    if (fi === fl) return ti === tl;
    if (ti === tl) {
      // The topic has no more levels: only a trailing "/#" still matches (the parent level).
      return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH;
    }
    fi++;
    ti++;
  }
  return ti === tl;
}

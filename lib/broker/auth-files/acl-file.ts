/**
 * Mosquitto ACL files (`acl_file`) as {@link AuthorizePublish} / {@link AuthorizeSubscribe} hooks.
 *
 * Format (mosquitto.conf(5), parser of src/security_default.c in 2.0), one directive per line:
 * - `user <name>`: the `topic` lines after it belong to that user (the rest of the line, trimmed, is the
 *   name; a name may appear again and its rules add up). `topic` lines before any `user` line form the
 *   anonymous section, for clients without a user name.
 * - `topic [read|write|readwrite|deny] <filter>`: no access word means readwrite (`topic read` alone is the
 *   topic "read", as in Mosquitto); the filter is the rest of the line, trimmed, and may hold spaces.
 * - `pattern [read|write|readwrite|deny] <filter>`: for every client, wherever it appears in the file;
 *   a level that is exactly `%c` / `%u` stands for the client id / user name.
 * - a line whose first character is `#` is a comment; blank lines are skipped. Words are separated by
 *   spaces only (Mosquitto's strtok on " "), so a tab inside a directive makes it invalid.
 *
 * Decision (mosquitto_acl_check_default), for a client and a topic:
 * 1. the client's rule list is its user's section (by exact user name), or the anonymous section when it
 *    has no user name; a user name with no section has none. No list and no patterns → denied.
 * 2. in the list, a matching `deny` wins over everything; else a matching rule granting the access allows;
 * 3. else, if there are patterns: a client whose user name or client id holds `+` or `#` is denied; a pattern
 *    with `%u` does not apply to a client without user name; a matching `deny` pattern denies, a matching
 *    pattern granting the access allows;
 * 4. else denied.
 * Matching is MQTT's, with `#` matching its parent level, and a `$` topic matched only by a rule that starts
 * with `$` (and vice versa).
 *
 * Where we differ from Mosquitto 2.0 (which grants every SUBSCRIBE and checks read access on each message it
 * delivers): {@link AclFileAuthorizer.authorizeSubscribe} decides at SUBSCRIBE, for the filter as a whole,
 * with the same rules where "matches" reads: a deny rule applies if it overlaps the filter (some topic
 * matches both), a granting rule if it covers it (every topic of the filter matches the rule — the
 * `mosquitto_sub_matches_acl` of later Mosquitto versions). For a filter without wildcards this is exactly
 * the per-message decision; a wildcard filter that is only partly readable is refused (SUBACK 0x87 / 0x80)
 * where Mosquitto 2.0 would grant it and deliver the readable part. {@link AclFileAuthorizer.canRead} gives
 * the per-message decision, and {@link AclFileAuthorizer.brokerOptions} the three broker hooks that give
 * Mosquitto's outcomes exactly: a filter is refused only when nothing of it is readable, and a partly
 * readable one is granted with a per-message check (the broker's `deliveryFilter`). Mosquitto also logs and keeps going
 * on an unknown directive only for some lines; we refuse the whole file with an AuthFileError naming the line.
 */
import type { AuthorizePublish, AuthorizeSubscribe, ClientInfo, DeliveryFilter } from '../auth.js';
import { AuthFileError } from './errors.js';
import { readLines } from './read-file.js';

const READ = 1;
const WRITE = 2;
const DENY = 0;

/** One `topic` or `pattern` line. */
interface Rule {
  /** 0 deny, 1 read, 2 write, 3 readwrite. */
  readonly access: number;
  readonly levels: readonly string[];
  readonly dollar: boolean;
  /** Whether a level is exactly `%u` (such a pattern never applies to a client without user name). */
  readonly usesUsername: boolean;
}

/** The parsed file: deny rules first in each list, as Mosquitto orders them. */
export interface AclRules {
  readonly anonymous: readonly Rule[] | undefined;
  readonly users: ReadonlyMap<string, readonly Rule[]>;
  readonly patterns: readonly Rule[];
}

/** A topic filter Mosquitto's mosquitto_sub_topic_check accepts: `+` and `#` alone in their level, `#` last. */
function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || Buffer.byteLength(filter) > 65535) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.length > 1 && (l.includes('+') || l.includes('#'))) return false;
    if (l === '#' && i !== levels.length - 1) return false;
  }
  return true;
}

function makeRule(access: number, filter: string): Rule {
  const levels = filter.split('/');
  return { access, levels, dollar: filter.startsWith('$'), usesUsername: levels.includes('%u') };
}

/** Adds a rule to a list, deny rules in front (add__acl / add__acl_pattern). */
function add(list: Rule[], rule: Rule): void {
  if (rule.access === DENY) list.unshift(rule);
  else list.push(rule);
}

/** Parses the lines of an ACL file. Throws AuthFileError naming `file` and the line. */
export function parseAclFile(lines: readonly string[], file: string): AclRules {
  let anonymous: Rule[] | undefined;
  const users = new Map<string, Rule[]>();
  const patterns: Rule[] = [];
  let user: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\s+$/, '');
    if (line.startsWith('#')) continue;
    const bad = (why: string): AuthFileError => new AuthFileError('AUTH_FILE_INVALID', file, i + 1, why);
    // strtok(" "): leading spaces skipped, the first word ends at a space.
    const start = line.search(/[^ ]/);
    if (start < 0) continue;
    const wordEnd = line.indexOf(' ', start);
    const word = wordEnd < 0 ? line.slice(start) : line.slice(start, wordEnd);
    const rest = wordEnd < 0 ? '' : line.slice(wordEnd).replace(/^ +/, '');
    if (word === 'user') {
      const name = rest.trim();
      if (name === '') throw bad('missing user name');
      user = name;
    } else if (word === 'topic' || word === 'pattern') {
      if (rest === '') throw bad(`empty ${word}`);
      const sp = rest.indexOf(' ');
      let access = READ | WRITE;
      let filter = rest;
      if (sp >= 0) {
        const a = rest.slice(0, sp);
        filter = rest.slice(sp + 1).trim();
        if (a === 'read') access = READ;
        else if (a === 'write') access = WRITE;
        else if (a === 'readwrite') access = READ | WRITE;
        else if (a === 'deny') access = DENY;
        else throw bad(`invalid access type ${JSON.stringify(a)} (read, write, readwrite or deny)`);
        if (filter === '') throw bad(`empty ${word}`);
      }
      if (!isValidFilter(filter)) throw bad(`invalid topic filter ${JSON.stringify(filter)}`);
      const rule = makeRule(access, filter);
      if (word === 'pattern') add(patterns, rule);
      else if (user === undefined) add((anonymous ??= []), rule);
      else {
        let list = users.get(user);
        if (list === undefined) users.set(user, (list = []));
        add(list, rule);
      }
    } else {
      throw bad(`invalid line (expected user, topic or pattern): ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  return { anonymous, users, patterns };
}

/** Level `i` of a rule, with a `%c`/`%u` level substituted when the rule is a pattern. */
function levelOf(rule: Rule, i: number, pattern: boolean, client: ClientInfo): string {
  const l = rule.levels[i]!;
  if (!pattern) return l;
  if (l === '%c') return client.clientId;
  if (l === '%u') return client.username!;
  return l;
}

/** Whether `rule` matches the topic name split into `topic`. */
function matchesTopic(rule: Rule, pattern: boolean, client: ClientInfo, topic: readonly string[], dollar: boolean): boolean {
  if (rule.dollar !== dollar) return false;
  const n = rule.levels.length;
  for (let i = 0; i < n; i++) {
    const r = levelOf(rule, i, pattern, client);
    if (r === '#' && rule.levels[i] === '#') return true; // also matches the parent level
    if (i >= topic.length) return false;
    if (r === '+' && rule.levels[i] === '+') continue;
    if (r !== topic[i]) return false;
  }
  return n === topic.length;
}

/** Whether every topic the filter `f` matches also matches `rule` (the rule covers the filter). */
function covers(rule: Rule, pattern: boolean, client: ClientInfo, f: readonly string[], dollar: boolean): boolean {
  if (rule.dollar !== dollar) return false;
  const n = rule.levels.length;
  for (let i = 0; i < n; i++) {
    const wild = rule.levels[i] === '#' || rule.levels[i] === '+' ? rule.levels[i] : undefined;
    if (wild === '#') return true;
    if (i >= f.length) return false;
    if (wild === '+') {
      if (f[i] === '#') return false;
      continue;
    }
    if (f[i] === '+' || f[i] === '#' || levelOf(rule, i, pattern, client) !== f[i]) return false;
  }
  return n === f.length;
}

/** Whether some topic matches both `rule` and the filter `f`. */
function overlaps(rule: Rule, pattern: boolean, client: ClientInfo, f: readonly string[], dollar: boolean, filterStartsWild: boolean): boolean {
  // A filter starting with a wildcard matches no `$` topic (spec 4.7.2), so cannot meet a `$` rule.
  if (rule.dollar && filterStartsWild) return false;
  if (!rule.dollar && dollar) return false;
  const n = rule.levels.length;
  for (let i = 0; ; i++) {
    const ri = i < n ? rule.levels[i] : undefined;
    const fi = i < f.length ? f[i] : undefined;
    if (ri === '#' || fi === '#') return true;
    if (ri === undefined || fi === undefined) return ri === undefined && fi === undefined;
    if (ri === '+' || fi === '+') continue;
    if (levelOf(rule, i, pattern, client) !== fi) return false;
  }
}

type Matcher = (rule: Rule, pattern: boolean) => boolean;

/** Mosquitto's decision (see the top of this file), with `matchDeny`/`matchGrant` deciding what "matches" means. */
function decide(rules: AclRules, client: ClientInfo, access: number, matchDeny: Matcher, matchGrant: Matcher): boolean {
  const list = client.username === undefined ? rules.anonymous : rules.users.get(client.username);
  if (list === undefined && rules.patterns.length === 0) return false;
  if (list !== undefined) {
    for (const rule of list) {
      if (rule.access === DENY) {
        if (matchDeny(rule, false)) return false;
      } else if ((rule.access & access) !== 0 && matchGrant(rule, false)) return true;
    }
  }
  if (rules.patterns.length === 0) return false;
  // A client id or user name with wildcards could make a pattern match more than its own subtree.
  if (/[+#]/.test(client.username ?? '') || /[+#]/.test(client.clientId)) return false;
  for (const rule of rules.patterns) {
    if (rule.usesUsername && client.username === undefined) continue;
    if (rule.access === DENY) {
      if (matchDeny(rule, true)) return false;
    } else if ((rule.access & access) !== 0 && matchGrant(rule, true)) return true;
  }
  return false;
}

/**
 * The ACL as broker options with Mosquitto 2.0's outcomes: spread into `MqttBrokerOptions`. A subscription
 * is refused (0x87 / 0x80) only when no topic of its filter is readable; a wildcard filter only partly
 * readable is granted and each message is checked on delivery (`deliveryFilter`), so the client receives
 * exactly what Mosquitto would deliver. A fully readable filter costs nothing per message. `$share`
 * subscriptions are decided at SUBSCRIBE as by {@link AclFileAuthorizer.authorizeSubscribe}.
 */
export interface AclBrokerHooks {
  readonly authorizePublish: AuthorizePublish;
  readonly authorizeSubscribe: AuthorizeSubscribe;
  readonly deliveryFilter: DeliveryFilter;
}

/** Authorisation hooks backed by a Mosquitto ACL file. */
export interface AclFileAuthorizer {
  /** The file, as given. */
  readonly path: string;
  /** Write access to the topic of a PUBLISH or a will: `true`, or `false` (the broker answers 0x87 / drops it on 3.1.1). */
  readonly authorizePublish: AuthorizePublish;
  /** Read access to the whole filter (see the top of acl-file.ts): `true`, or `false` (SUBACK 0x87 / 0x80). */
  readonly authorizeSubscribe: AuthorizeSubscribe;
  /**
   * The hooks for a broker, with Mosquitto's delivered / not-delivered outcomes (see {@link AclBrokerHooks}):
   * `new MqttBroker({ authenticate, ...acl.brokerOptions })`. Reloads apply to them too: new connections
   * and subscriptions, and the per-message checks of partly readable subscriptions already granted.
   */
  readonly brokerOptions: AclBrokerHooks;
  /** Mosquitto's per-message read decision: may `client` receive a message published on `topic`? */
  canRead(client: ClientInfo, topic: string): boolean;
  /** Mosquitto's write decision: may `client` publish on `topic`? */
  canWrite(client: ClientInfo, topic: string): boolean;
  /**
   * Reads the file again and swaps it in at once, for the decisions made from now on. If the new file
   * cannot be read or is malformed, throws its AuthFileError and keeps the rules in force.
   */
  reload(): void;
}

/**
 * Builds authorisation hooks from the Mosquitto ACL file at `path`, read now: throws {@link AuthFileError}
 * if it cannot be read or is malformed. Answers synchronously.
 */
export function aclFileAuthorizer(path: string): AclFileAuthorizer {
  const load = (): AclRules => parseAclFile(readLines(path), path);
  let rules = load();

  const topicDecision = (client: ClientInfo, topic: string, access: number): boolean => {
    const levels = topic.split('/');
    const dollar = topic.startsWith('$');
    const m: Matcher = (rule, pattern) => matchesTopic(rule, pattern, client, levels, dollar);
    return decide(rules, client, access, m, m);
  };
  const canRead = (client: ClientInfo, topic: string): boolean => topicDecision(client, topic, READ);
  const canWrite = (client: ClientInfo, topic: string): boolean => topicDecision(client, topic, WRITE);

  /**
   * The filter's read decision: `all` when every topic of it is readable (a granting rule covers it and
   * no deny rule overlaps it), else `some` when a topic may be (no deny rule covers it and a granting one
   * overlaps it — an over-approximation: `none` guarantees that canRead is false for every topic of it).
   */
  const filterAccess = (client: ClientInfo, topicFilter: string): 'all' | 'some' | 'none' => {
    let filter = topicFilter;
    // A shared subscription reads the topics of its filter: `$share/<group>/<filter>`.
    if (filter.startsWith('$share/')) {
      const slash = filter.indexOf('/', 7);
      if (slash < 0) return 'none';
      filter = filter.slice(slash + 1);
    }
    const f = filter.split('/');
    const dollar = filter.startsWith('$');
    const startsWild = f[0] === '+' || f[0] === '#';
    const overlap: Matcher = (rule, pattern) => overlaps(rule, pattern, client, f, dollar, startsWild);
    const cover: Matcher = (rule, pattern) => covers(rule, pattern, client, f, dollar);
    if (decide(rules, client, READ, overlap, cover)) return 'all';
    return decide(rules, client, READ, cover, overlap) ? 'some' : 'none';
  };

  const authorizePublish: AuthorizePublish = (client, message) => canWrite(client, message.topic);
  const brokerOptions: AclBrokerHooks = {
    authorizePublish,
    authorizeSubscribe: (client, subscription) => {
      const access = filterAccess(client, subscription.topicFilter);
      return access === 'all' || (access === 'some' && !subscription.topicFilter.startsWith('$share/'));
    },
    deliveryFilter: (client, subscription) =>
      filterAccess(client, subscription.topicFilter) === 'all' ? undefined : (topic: string) => canRead(client, topic),
  };

  return {
    path,
    authorizePublish,
    authorizeSubscribe: (client, subscription) => filterAccess(client, subscription.topicFilter) === 'all',
    brokerOptions,
    canRead,
    canWrite,
    reload: () => {
      rules = load();
    },
  };
}

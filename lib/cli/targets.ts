/**
 * Where `pub` and `sub` take their topic, QoS and message from: the positional form of the seed's
 * examples (`pub <topic> <qos> [message]`, `sub <filter> <qos>`) or mosquitto_pub/sub's flags
 * (`-t`, `-q`, `-m`, `-n`, `-s`, `-f`, `-l`). Either works; mixing them for the same value is a usage
 * error that names the options, never a silent choice.
 */
import type { QoS } from '../codec/index.js';
import { UsageError } from './errors.js';

/** QoS when neither `-q` nor a QoS argument is given (mosquitto's default). */
export const DEFAULT_CLI_QOS: QoS = 0;

/** The flags of `pub` that say what to publish. */
export interface PubTargetFlags {
  topic?: string;
  qos?: QoS;
  message?: string;
  nullMessage?: boolean;
  stdin?: boolean;
  stdinLine?: boolean;
  file?: string;
}

/** Where the payload comes from. */
export type PayloadSource =
  | { kind: 'text'; text: string }
  | { kind: 'empty' }
  | { kind: 'file'; path: string }
  | { kind: 'stdin' }
  | { kind: 'stdin-lines' };

/** What `pub` publishes. */
export interface PubTarget {
  topic: string;
  qos: QoS;
  source: PayloadSource;
}

function quoted(values: (string | number)[]): string {
  return values.map((v) => JSON.stringify(String(v))).join(' ');
}

/** Resolves `pub`'s positional arguments and flags into one target; throws UsageError on conflicts. */
export function resolvePubTarget(
  argTopic: string | undefined,
  argQos: QoS | undefined,
  argMessage: string | undefined,
  o: PubTargetFlags,
): PubTarget {
  if (o.topic !== undefined) {
    const extra = [argTopic, argQos, argMessage].filter((v) => v !== undefined);
    if (extra.length > 0) {
      throw new UsageError(`-t/--topic is given, so no arguments are expected (got ${quoted(extra)}): give the QoS with -q and the message with -m.`);
    }
  }
  const topic = o.topic ?? argTopic;
  if (topic === undefined) throw new UsageError('No topic: give it with -t/--topic or as the first argument.');
  if (o.qos !== undefined && argQos !== undefined) throw new UsageError('-q/--qos and a QoS argument: give the QoS one way only.');
  const sources: PayloadSource[] = [];
  if (o.message !== undefined) sources.push({ kind: 'text', text: o.message });
  if (argMessage !== undefined) sources.push({ kind: 'text', text: argMessage });
  if (o.nullMessage === true) sources.push({ kind: 'empty' });
  if (o.file !== undefined) sources.push({ kind: 'file', path: o.file });
  if (o.stdin === true) sources.push({ kind: 'stdin' });
  if (o.stdinLine === true) sources.push({ kind: 'stdin-lines' });
  if (sources.length === 0) {
    throw new UsageError(
      'No message: give it with -m/--message or as an argument, or use -f/--file, -s/--stdin, -l/--stdin-line or -n/--null-message ("" sends an empty payload too).',
    );
  }
  if (sources.length > 1) {
    throw new UsageError('Give the message one way only: -m/--message, a message argument, -n/--null-message, -f/--file, -s/--stdin or -l/--stdin-line.');
  }
  return { topic, qos: o.qos ?? argQos ?? DEFAULT_CLI_QOS, source: sources[0]! };
}

/** The flags of `sub` that say what to subscribe to. */
export interface SubTargetFlags {
  /** `-t`, repeatable. */
  topic?: string[];
  qos?: QoS;
}

/** What `sub` subscribes to: one or more filters (several `-t`), all at one maximum QoS. */
export interface SubTarget {
  filters: string[];
  qos: QoS;
}

/** Resolves `sub`'s positional arguments and flags; throws UsageError on conflicts. */
export function resolveSubTarget(argFilter: string | undefined, argQos: QoS | undefined, o: SubTargetFlags): SubTarget {
  if (o.topic !== undefined) {
    const extra = [argFilter, argQos].filter((v) => v !== undefined);
    if (extra.length > 0) throw new UsageError(`-t/--topic is given, so no arguments are expected (got ${quoted(extra)}): give the QoS with -q.`);
  }
  const filters = o.topic ?? (argFilter === undefined ? [] : [argFilter]);
  if (filters.length === 0) throw new UsageError('No topic filter: give it with -t/--topic (repeatable) or as the first argument.');
  if (o.qos !== undefined && argQos !== undefined) throw new UsageError('-q/--qos and a QoS argument: give the QoS one way only.');
  return { filters, qos: o.qos ?? argQos ?? DEFAULT_CLI_QOS };
}

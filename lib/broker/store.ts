/**
 * Storage interfaces for broker state, with in-memory defaults. The broker works on live objects in
 * memory and calls these on every change, so a durable implementation can write through (or behind)
 * without touching the routing code.
 */
import type { RetainedMessage } from './message.js';
import type { Session } from './session.js';

export type { RetainedMessage };

/** Retained messages by topic (spec 3.3.1.3). */
export interface RetainedStore {
  /** Stores `message`, replacing the one of the same topic. */
  set(message: RetainedMessage): void;
  /** Deletes the retained message of `topic`; returns whether there was one. */
  delete(topic: string): boolean;
  get(topic: string): RetainedMessage | undefined;
  /** Calls `visit` for every stored message whose topic matches `filter` (no `$share/` prefix). */
  match(filter: string, visit: (message: RetainedMessage) => void): void;
  readonly size: number;
}

/** Sessions by client identifier. The in-memory default is a `Map`. */
export interface SessionStore {
  get(clientId: string): Session | undefined;
  set(clientId: string, session: Session): void;
  delete(clientId: string): boolean;
  values(): IterableIterator<Session>;
  readonly size: number;
}

/** The default {@link SessionStore}: a Map in this process. */
export class MemorySessionStore extends Map<string, Session> implements SessionStore {}

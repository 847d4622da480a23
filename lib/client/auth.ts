/**
 * Enhanced authentication (spec 4.12): a challenge/response exchange of AUTH packets, driven by a
 * user-supplied {@link Authenticator} (SCRAM, Kerberos, OAuth token refresh, …).
 */
import type { AuthPacket, ConnackPacket } from '../codec/index.js';

/** Implements one authentication method for the client. */
export interface Authenticator {
  /** Authentication Method sent in CONNECT (and AUTH), e.g. `SCRAM-SHA-256`. */
  readonly method: string;
  /**
   * Authentication Data of the CONNECT — and of the AUTH (0x19) that starts a re-authentication.
   * Called for every connection attempt, reconnects included.
   */
  initialData?(): Buffer | undefined | Promise<Buffer | undefined>;
  /**
   * Answers a server challenge (AUTH 0x18 Continue authentication): returns the Authentication Data
   * of the client's AUTH 0x18. Throwing (or rejecting) aborts the connection.
   */
  challenge(data: Buffer | undefined, packet: AuthPacket): Buffer | undefined | Promise<Buffer | undefined>;
  /**
   * The exchange succeeded: called with the server's final Authentication Data, from the CONNACK or
   * (after a re-authentication) the AUTH 0x00. Synchronous so that the connection state is settled
   * before any further packet is processed; throw to refuse the server (the connection is closed).
   */
  complete?(data: Buffer | undefined, packet: ConnackPacket | AuthPacket): void;
}

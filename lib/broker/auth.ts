/**
 * Hook types: authentication of CONNECT (with enhanced AUTH steps) and authorisation of PUBLISH and
 * SUBSCRIBE. A hook may answer synchronously (fast path) or with a promise; the connection processes
 * nothing else from that client until the answer arrives, so packets keep their order.
 */
import type { Properties, QoS, Subscription, UserProperty } from '../codec/index.js';

/** How a client reached the broker. */
export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

/**
 * The verified client certificate of a TLS connection, as hooks see it: names, fingerprints and
 * validity, copied and frozen (no raw certificate, no socket).
 */
export interface PeerCertificateInfo {
  /** Subject fields, e.g. `{ CN: 'device-42', O: 'ACME' }`. */
  readonly subject: Readonly<Record<string, string | readonly string[]>>;
  readonly issuer: Readonly<Record<string, string | readonly string[]>>;
  /** e.g. `DNS:device-42.example, IP Address:10.0.0.1`, when present. */
  readonly subjectAltName: string | undefined;
  readonly serialNumber: string;
  /** SHA-1 fingerprint, colon-separated hex. */
  readonly fingerprint: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string;
  /** Start and end of validity as printed by OpenSSL, e.g. `Jan  1 00:00:00 2026 GMT`. */
  readonly validFrom: string;
  readonly validTo: string;
}

/**
 * What hooks and events see of a connected (or connecting) client: a frozen snapshot taken when the
 * client identified itself (CONNECT), never the live connection — no socket, no session.
 */
export interface ClientInfo {
  /** The client identifier (the assigned one when the client sent an empty one); '' before CONNECT. */
  readonly clientId: string;
  readonly username: string | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly transport: TransportKind;
  /** The MQTT protocol version of CONNECT (5), or undefined before CONNECT. */
  readonly protocolVersion: number | undefined;
  /** The verified client certificate on a TLS listener that requests one, else undefined. */
  readonly peerCertificate: PeerCertificateInfo | undefined;
}

/** One call of the {@link Authenticate} hook. */
export interface AuthenticateRequest {
  readonly client: ClientInfo;
  readonly clientId: string;
  readonly username: string | undefined;
  /** The CONNECT password: treat as a secret, never log it. */
  readonly password: Buffer | undefined;
  /** The enhanced authentication method of CONNECT, if any (spec 4.12). */
  readonly authenticationMethod: string | undefined;
  /** The authentication data of this step (CONNECT, or the client's AUTH). */
  readonly authenticationData: Buffer | undefined;
  /** 0 for CONNECT (or the AUTH 0x19 starting a re-authentication), then 1, 2, … for each AUTH 0x18 of the client. */
  readonly step: number;
  /** True when the client re-authenticates on an established connection (AUTH 0x19). */
  readonly reauthenticate: boolean;
  /** The CONNECT properties (user properties and so on). */
  readonly properties: Properties | undefined;
}

/**
 * The answer of {@link Authenticate}: `true` accepts, `false` refuses (CONNACK 0x86 when the client sent
 * credentials, else 0x87). An object gives the reason code: 0x00 accepts, 0x18 (Continue authentication)
 * sends `authenticationData` in an AUTH packet and waits for the client's next step, any other code
 * refuses with that code (0x86, 0x87, 0x8C, …; one a CONNACK may not carry becomes 0x87).
 */
export type AuthenticateResult =
  | boolean
  | {
      readonly reasonCode: number;
      readonly authenticationData?: Buffer;
      readonly reasonString?: string;
      readonly userProperties?: UserProperty[];
    };

/** Authenticates a client. Without this hook every client is accepted unless it asks for enhanced authentication (then CONNACK 0x8C). */
export type Authenticate = (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;

/** The message a client wants to publish, as shown to {@link AuthorizePublish} and the `publish` event. */
export interface PublishedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties | undefined;
}

/**
 * The answer of {@link AuthorizePublish}: `true` (or 0x00) allows; `false` refuses with 0x87; a reason
 * code ≥ 0x80 refuses with that code (in PUBACK/PUBREC; QoS 0 messages are dropped without answer).
 */
export type AuthorizePublishResult = boolean | number;

/** Authorises a PUBLISH (and, with `isWill`, a will message before it is published). */
export type AuthorizePublish = (
  client: ClientInfo,
  message: PublishedMessage,
  isWill: boolean,
) => AuthorizePublishResult | Promise<AuthorizePublishResult>;

/**
 * The answer of {@link AuthorizeSubscribe}: `true` grants the requested QoS; `false` refuses with 0x87;
 * 0, 1 or 2 grants at most that QoS; a reason code ≥ 0x80 refuses with that code.
 */
export type AuthorizeSubscribeResult = boolean | number;

/** Authorises one subscription of a SUBSCRIBE (called once per topic filter, in order). */
export type AuthorizeSubscribe = (
  client: ClientInfo,
  subscription: Subscription,
) => AuthorizeSubscribeResult | Promise<AuthorizeSubscribeResult>;

/**
 * A per-message read check for one granted subscription: answers whether the subscriber may receive a
 * message published on `topic`. Called on each delivery through that subscription (and for each retained
 * message it would get), so it must be synchronous and cheap.
 */
export type DeliveryCheck = (topic: string) => boolean;

/**
 * Called once per granted ordinary (not `$share`) subscription, after {@link AuthorizeSubscribe}: returns a
 * {@link DeliveryCheck} when only some of the filter's topics may be delivered to this client, or
 * `undefined` when all may (then deliveries cost nothing extra). This is how a Mosquitto-style ACL grants a
 * wildcard filter that is only partly readable (see `aclFileAuthorizer(...).brokerOptions`).
 */
export type DeliveryFilter = (client: ClientInfo, subscription: Subscription) => DeliveryCheck | undefined;

/** Whether `v` is a promise-like value (hooks may answer either way). */
export function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<T>).then === 'function';
}

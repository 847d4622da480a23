/**
 * CONNECT, authentication (simple and enhanced, spec 4.12, with re-authentication) and CONNACK.
 *
 * Order of checks: will QoS/retain against the broker's limits (0x9B/0x9A), will payload format (0x99), client identifier (0x85
 * when empty ones are not allowed), the `authenticate` hook (0x86/0x87/0x8C or continue with AUTH
 * 0x18), then admission (0x89 past maxConnections; takeover of a connected client with the same id).
 *
 * MQTT 3.1.1 and 3.1 clients (protocol level 4 and 3) go through the same flow, decided in v5 terms; the
 * connection's encoder translates the CONNACK (return codes 0x00–0x05, no properties). Their rules:
 * Clean Session 1 is Clean Start 1 with a session that ends with the connection; Clean Session 0 is a
 * session that never expires — unless `maxSessionExpiryInterval` says otherwise (applied as for v5). Their
 * keep alive cannot be changed by the server: above `maxKeepAlive` (or 0 when it is set) they are refused
 * with return code 0x02 (identifier rejected), as Mosquitto does.
 */
import { isUtf8 } from 'node:buffer';
import {
  MqttProtocolError,
  PacketType,
  isReasonCodeAllowed,
  protocolError,
  type AuthPacket,
  type ConnectPacket,
  type Properties,
} from '../codec/index.js';
import { isThenable, type AuthenticateRequest, type AuthenticateResult } from './auth.js';
import { ConnState, type ProtocolConnection as Connection } from './connection-contract.js';
import { HookError } from './errors.js';

/** Handles CONNECT (the connection is in state Connecting). */
export function handleConnect(conn: Connection, p: ConnectPacket): void {
  const opts = conn.host.options;
  const props = p.properties;
  conn.adoptClientLimits(props);
  const will = p.will;
  if (will !== undefined) {
    if (will.qos > opts.maximumQoS) return conn.refuse(0x9b, `will QoS ${will.qos} is above the maximum QoS ${opts.maximumQoS}`);
    if (will.retain && !opts.retainAvailable) return conn.refuse(0x9a, 'retained messages are not supported');
    if (will.properties?.payloadFormatIndicator === true && opts.validatePayloadFormat && !isUtf8(will.payload)) {
      return conn.refuse(0x99, 'the will payload is not valid UTF-8 although its Payload Format Indicator says it is');
    }
  }
  if (p.clientId.length === 0) {
    if (!opts.allowEmptyClientId) return conn.refuse(0x85, 'an empty client identifier is not allowed');
    conn.identify(conn.host.assignClientId(), true, p.username, p.protocolVersion ?? 5);
  } else {
    conn.identify(p.clientId, false, p.username, p.protocolVersion ?? 5);
  }
  conn.keepWill(will ?? null);
  const method = props?.authenticationMethod;
  if (opts.authenticate === undefined) {
    if (method !== undefined) return conn.refuse(0x8c, `authentication method ${method} is not supported`);
    accept(conn, p, undefined);
    return;
  }
  conn.beginAuthentication({ method, step: 0, connect: p, reauthProperties: undefined, reauthenticating: false, awaitingClient: false });
  authenticate(conn, props?.authenticationData);
}

/** Handles AUTH from the client: the next step of CONNECT authentication, or a re-authentication. */
export function handleAuth(conn: Connection, p: AuthPacket): void {
  const st = conn.auth;
  if (st === null || st.method === undefined) {
    throw protocolError('AUTH without enhanced authentication in CONNECT');
  }
  const props = p.properties;
  if (props?.authenticationMethod !== st.method) {
    throw protocolError('AUTH with another authentication method than CONNECT (MQTT-4.12.0-5)');
  }
  const rc = p.reasonCode ?? 0;
  if (rc === 0x18 && st.awaitingClient) {
    st.awaitingClient = false;
    st.step++;
  } else if (rc === 0x19 && conn.state === ConnState.Connected && !st.reauthenticating) {
    st.reauthenticating = true;
    st.reauthProperties = props;
    st.step = 0;
  } else {
    throw protocolError(`unexpected AUTH with reason code 0x${rc.toString(16)}`);
  }
  authenticate(conn, props?.authenticationData);
}

/** Calls the authenticate hook for the current step; an asynchronous answer blocks the connection. */
function authenticate(conn: Connection, data: Buffer | undefined): void {
  const st = conn.auth!;
  const connect = st.connect;
  const request: AuthenticateRequest = {
    client: conn.info,
    clientId: conn.clientId,
    username: conn.username,
    password: connect?.password,
    authenticationMethod: st.method,
    authenticationData: data,
    step: st.step,
    reauthenticate: st.reauthenticating,
    properties: connect !== null ? connect.properties : st.reauthProperties,
  };
  let r: AuthenticateResult | PromiseLike<AuthenticateResult>;
  try {
    r = conn.host.options.authenticate!(request);
  } catch (err) {
    hookFailed(conn, err);
    return;
  }
  if (!isThenable(r)) {
    onResult(conn, r);
    return;
  }
  conn.block();
  r.then(
    (res) => {
      if (conn.state !== ConnState.Closed) {
        try {
          onResult(conn, res);
        } catch (err) {
          conn.fail(err);
        }
      }
      conn.unblock();
    },
    (err: unknown) => {
      if (conn.state !== ConnState.Closed) hookFailed(conn, err);
      conn.unblock();
    },
  );
}

function hookFailed(conn: Connection, err: unknown): void {
  const e = new HookError('authenticate', 0x80, err);
  conn.host.clientError(conn.info, e);
  if (conn.auth?.reauthenticating === true || conn.state === ConnState.Connected) conn.disconnect(0x80, 'authentication failed');
  else conn.refuse(0x80, 'authentication failed');
}

function onResult(conn: Connection, res: AuthenticateResult): void {
  const st = conn.auth!;
  let code: number;
  let data: Buffer | undefined;
  let extra: Properties | undefined;
  if (res === true) {
    code = 0;
  } else if (res === false) {
    const credentials = st.connect !== null && (st.connect.username !== undefined || st.connect.password !== undefined);
    code = credentials ? 0x86 : 0x87;
  } else {
    code = res.reasonCode;
    data = res.authenticationData;
    if (res.reasonString !== undefined || res.userProperties !== undefined) {
      extra = { reasonString: res.reasonString, userProperties: res.userProperties };
    }
  }
  if (code === 0x18) {
    if (st.method === undefined) {
      conn.host.clientError(conn.info, new MqttProtocolError(0x87, 'authenticate asked to continue, but the client uses no authentication method'));
      code = 0x87;
    } else {
      st.awaitingClient = true;
      conn.sendPacket({ type: PacketType.AUTH, reasonCode: 0x18, properties: { ...extra, authenticationMethod: st.method, authenticationData: data } });
      return;
    }
  }
  if (code === 0) {
    if (st.reauthenticating) {
      st.reauthenticating = false;
      st.reauthProperties = undefined;
      conn.sendPacket({ type: PacketType.AUTH, reasonCode: 0, properties: { ...extra, authenticationMethod: st.method, authenticationData: data } });
      return;
    }
    const connect = st.connect!;
    st.connect = null;
    if (st.method === undefined) conn.endAuthentication();
    const props: Properties | undefined = st.method === undefined ? extra : { ...extra, authenticationMethod: st.method, authenticationData: data };
    accept(conn, connect, props);
    return;
  }
  if (st.reauthenticating || conn.state === ConnState.Connected) {
    conn.disconnect(isReasonCodeAllowed(PacketType.DISCONNECT, code) ? code : 0x87, extra?.reasonString);
  } else {
    conn.refuse(isReasonCodeAllowed(PacketType.CONNACK, code) && code >= 0x80 ? code : 0x87, undefined, extra);
  }
}

/** The keep alive in effect: the broker's serverKeepAlive, else the client's capped by maxKeepAlive (0 counts as infinite). */
function effectiveKeepAlive(conn: Connection, requested: number): number {
  const opts = conn.host.options;
  if (opts.serverKeepAlive !== undefined) return opts.serverKeepAlive;
  if (opts.maxKeepAlive < 65_535 && (requested === 0 || requested > opts.maxKeepAlive)) return opts.maxKeepAlive;
  return requested;
}

/** Admits the authenticated client: session, takeover, CONNACK, keep alive, resumption. */
function accept(conn: Connection, p: ConnectPacket, authProps: Properties | undefined): void {
  const core = conn.host;
  const opts = core.options;
  const v5 = conn.protocolVersion === 5;
  // 3.1.1: a persistent session has no expiry of its own ("never", 0xFFFFFFFF in v5 terms).
  const requestedExpiry = v5 ? (p.properties?.sessionExpiryInterval ?? 0) : p.cleanStart ? 0 : 0xffff_ffff;
  const expiryInterval = Math.min(requestedExpiry, opts.maxSessionExpiryInterval);
  let keepAlive = p.keepAlive;
  if (v5) {
    keepAlive = effectiveKeepAlive(conn, p.keepAlive);
  } else if (opts.maxKeepAlive < 65_535 && (keepAlive === 0 || keepAlive > opts.maxKeepAlive)) {
    // No Server Keep Alive to announce: refuse what we would have lowered (Mosquitto's max_keepalive rule).
    conn.refuse(0x85, `keep alive ${keepAlive} s is not within 1..${opts.maxKeepAlive} s`);
    return;
  }

  const props: Properties = { ...authProps };
  if (conn.assignedClientId) props.assignedClientIdentifier = conn.clientId;
  if (expiryInterval !== requestedExpiry) props.sessionExpiryInterval = expiryInterval;
  if (keepAlive !== p.keepAlive) props.serverKeepAlive = keepAlive;
  if (opts.receiveMaximum !== 65_535) props.receiveMaximum = opts.receiveMaximum;
  if (opts.maximumQoS !== 2) props.maximumQoS = opts.maximumQoS;
  if (!opts.retainAvailable) props.retainAvailable = false;
  props.maximumPacketSize = opts.maximumPacketSize;
  if (opts.topicAliasMaximum !== 0) props.topicAliasMaximum = opts.topicAliasMaximum;
  if (!opts.wildcardSubscriptionAvailable) props.wildcardSubscriptionAvailable = false;
  if (!opts.subscriptionIdentifiersAvailable) props.subscriptionIdentifiersAvailable = false;
  if (!opts.sharedSubscriptionAvailable) props.sharedSubscriptionAvailable = false;
  if (p.properties?.requestResponseInformation === true && opts.responseInformation !== undefined) {
    props.responseInformation = opts.responseInformation;
  }

  // A client whose Maximum Packet Size cannot take our CONNACK could never learn it is connected:
  // refuse it (a bare CONNACK 0x95 is 5 bytes; below that it is closed without a word).
  if (conn.encodeForClient({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0, properties: props }) === undefined) {
    conn.refuse(0x95, "the CONNACK does not fit in the client's Maximum Packet Size");
    return;
  }
  const admitted = core.admit(conn, p.cleanStart);
  if (typeof admitted === 'number') {
    conn.refuse(admitted, 'too many connections');
    return;
  }
  const { session, sessionPresent } = admitted;
  session.expiryInterval = expiryInterval;

  conn.accepted(session, sessionPresent, { type: PacketType.CONNACK, sessionPresent, reasonCode: 0, properties: props }, keepAlive);
  core.connected(conn, sessionPresent);
}

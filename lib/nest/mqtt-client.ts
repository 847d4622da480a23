/**
 * Where the transport meets {@link MqttClient}: building it from the transport options, the
 * events it forwards, and the acknowledgement hook.
 */
import { randomBytes } from 'node:crypto';
import {
  DurableSessionStore,
  MqttClient,
  connectionFromUrl,
  type ConnectOptions,
  type MqttClientEvents,
  type MqttClientOptions,
  type MqttMessage,
} from '../client/index.js';
import { DEFAULT_KEEP_ALIVE, DEFAULT_URL } from './constants.js';
import type { Mqtt5ConnectionOptions } from './options.js';

/** Events of the underlying MqttClient, as `on()` of ServerMqtt5/ClientMqtt5 forwards them. */
export type Mqtt5Events = { [K in keyof MqttClientEvents]: (...args: MqttClientEvents[K]) => void };

/** A received message (the PUBLISH packet, topic alias resolved). */
export type InboundMessage = MqttMessage;

/** Settings the transport imposes on the client it builds. */
export interface ClientRequirements {
  /** CONNECT receive maximum (bounds unacknowledged QoS 1/2 deliveries to us). */
  receiveMaximum?: number;
  /** Acknowledge QoS 1/2 deliveries only when `ack()` is called. */
  manualAck?: boolean;
}

/** A client ready to `connect(connectOptions)`. */
export interface CreatedClient {
  client: MqttClient;
  connectOptions: ConnectOptions;
  clientId: string;
}

/**
 * Builds an MqttClient and its CONNECT from transport options. The client id defaults to a
 * random `nest-mqtt5-<role>-…`; everything else left unset keeps the client's defaults.
 */
export function createMqttClient(
  options: Mqtt5ConnectionOptions,
  role: 'server' | 'client',
  requirements: ClientRequirements,
): CreatedClient {
  const url = options.url ?? DEFAULT_URL;
  const connection = options.connection ?? connectionFromUrl(url);
  const clientOptions: MqttClientOptions = { ...options.clientOptions };
  if (requirements.manualAck) clientOptions.manualAck = true;
  // The transport bounds its own handler concurrency, so a broker overshooting our Receive Maximum
  // (Mosquitto 2.0.11 does after its first window) is tolerated rather than disconnected, unless asked.
  clientOptions.enforceReceiveMaximum ??= false;
  const clientId = options.clientId ?? `nest-mqtt5-${role}-${randomBytes(6).toString('hex')}`;
  const durable = options.durableSession !== undefined && clientOptions.sessionStore === undefined ? options.durableSession : undefined;
  let store: DurableSessionStore | undefined;
  if (durable !== undefined) {
    store = DurableSessionStore.open({ dir: durable.dir, clientId, ...(durable.sync !== undefined ? { sync: durable.sync } : {}) });
    clientOptions.sessionStore = store;
  }
  const client = new MqttClient(connection, clientOptions);
  // The store lives as long as its client.
  if (store !== undefined) client.once('closed', () => void store.close().catch(() => undefined));
  const properties: NonNullable<ConnectOptions['properties']> = { ...options.connectProperties };
  const expiry = options.sessionExpiryInterval ?? (durable !== undefined ? 3600 : undefined);
  if (expiry !== undefined) properties.sessionExpiryInterval = expiry;
  if (requirements.receiveMaximum !== undefined) properties.receiveMaximum = requirements.receiveMaximum;
  const connectOptions: ConnectOptions = {
    clientId,
    keepAlive: options.keepAlive ?? DEFAULT_KEEP_ALIVE,
    cleanStart: options.cleanStart ?? durable === undefined,
    properties,
  };
  // Credentials may come in the URL (mqtt://user:pass@host), as with MQTT.js; options win.
  const fromUrl = options.connection === undefined ? credentialsOf(url) : undefined;
  const username = options.username ?? fromUrl?.username;
  const password = options.password ?? fromUrl?.password;
  if (username !== undefined) connectOptions.username = username;
  if (password !== undefined) connectOptions.password = password;
  if (options.will !== undefined) connectOptions.will = options.will;
  return { client, connectOptions, clientId };
}

/** User name and password embedded in a broker URL, if any. */
function credentialsOf(url: string): { username?: string; password?: string } | undefined {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return undefined;
  return {
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** `sessionPresent` of a 'reconnected' event's arguments. */
export function sessionPresentOf(args: unknown[]): boolean {
  const info = args[0] as { sessionPresent?: boolean } | undefined;
  return info?.sessionPresent === true;
}

/** Adds an event listener by name (events typed loosely, as Nest's `on()` passes them through). */
function listen(client: MqttClient, event: string, callback: (...args: any[]) => void): void {
  (client as unknown as NodeJS.EventEmitter).on(event, callback);
}

/**
 * The listeners given to a transport's `on()`: attached to the MqttClient at once when it exists,
 * otherwise kept until {@link ClientListeners.attach} is called with the client once it is built.
 */
export class ClientListeners {
  private readonly pending: { event: string; callback: (...args: any[]) => void }[] = [];

  /** Listens on `client`, or remembers the listener when there is no client yet. */
  add(client: MqttClient | undefined, event: string, callback: (...args: any[]) => void): void {
    if (client) listen(client, event, callback);
    else this.pending.push({ event, callback });
  }

  /** Attaches (and forgets) every remembered listener to the newly built `client`. */
  attach(client: MqttClient): void {
    for (const { event, callback } of this.pending.splice(0)) listen(client, event, callback);
  }
}

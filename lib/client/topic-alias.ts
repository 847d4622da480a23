/**
 * Topic aliases (spec 3.3.2.3.4). They live for one network connection, so a fresh pair of tables is
 * made for every connection, and a message re-sent after a reconnect carries its full topic again.
 */
import { MqttProtocolError, type PublishPacket } from '../codec/index.js';

/**
 * Aliases for PUBLISH packets the client sends, up to the server's Topic Alias Maximum (CONNACK).
 *
 * - An alias the application sets (`properties.topicAlias`, with the topic) is honoured: the first
 *   PUBLISH carries topic and alias, later ones with the same pair carry only the alias. A PUBLISH
 *   with an empty topic and a known alias is resolved to the topic (for a re-send after a reconnect).
 * - With `auto`, the client assigns aliases itself, replacing the least recently used one when all
 *   are taken.
 */
export class OutgoingTopicAliases {
  /** alias → topic, as the server knows them on this connection. */
  private readonly byAlias = new Map<number, string>();
  /** topic → alias, most recently used last (for `auto`). */
  private readonly byTopic = new Map<string, number>();

  constructor(
    /** The server's Topic Alias Maximum; 0 disables aliases. */
    readonly maximum: number,
    /** Assign aliases automatically. */
    readonly auto: boolean,
  ) {}

  /**
   * The topic a PUBLISH with an empty topic name stands for. Throws MqttProtocolError 0x94 when the
   * alias is out of range or unknown on this connection.
   */
  resolveTopic(alias: number): string {
    this.checkRange(alias);
    const topic = this.byAlias.get(alias);
    if (topic === undefined) throw new MqttProtocolError(0x94, `Topic alias ${alias} is not known on this connection`);
    return topic;
  }

  /**
   * The packet to put on the wire for `packet` (whose topic is never empty): `packet` itself, or a
   * shallow copy with the topic left out and/or an alias set. Throws MqttProtocolError 0x94 for a
   * requested alias the server does not allow.
   */
  apply(packet: PublishPacket): PublishPacket {
    const requested = packet.properties?.topicAlias;
    if (requested !== undefined) {
      this.checkRange(requested);
      if (this.byAlias.get(requested) === packet.topic) return { ...packet, topic: '' };
      this.assign(requested, packet.topic);
      return packet;
    }
    if (!this.auto || this.maximum === 0) return packet;
    const known = this.byTopic.get(packet.topic);
    if (known !== undefined) {
      // Refresh its place in the LRU order.
      this.byTopic.delete(packet.topic);
      this.byTopic.set(packet.topic, known);
      return { ...packet, topic: '', properties: { ...packet.properties, topicAlias: known } };
    }
    let alias: number;
    if (this.byAlias.size < this.maximum) {
      alias = this.byAlias.size + 1;
      while (this.byAlias.has(alias)) alias = (alias % this.maximum) + 1;
    } else {
      alias = this.byTopic.values().next().value as number;
    }
    this.assign(alias, packet.topic);
    return { ...packet, properties: { ...packet.properties, topicAlias: alias } };
  }

  private assign(alias: number, topic: string): void {
    const previous = this.byAlias.get(alias);
    if (previous !== undefined) this.byTopic.delete(previous);
    const oldAlias = this.byTopic.get(topic);
    if (oldAlias !== undefined && oldAlias !== alias) this.byAlias.delete(oldAlias);
    this.byAlias.set(alias, topic);
    this.byTopic.delete(topic);
    this.byTopic.set(topic, alias);
  }

  private checkRange(alias: number): void {
    if (!Number.isInteger(alias) || alias < 1 || alias > this.maximum) {
      throw new MqttProtocolError(
        0x94,
        this.maximum === 0
          ? 'The server does not accept topic aliases'
          : `Topic alias ${alias} is outside 1–${this.maximum} (the server's Topic Alias Maximum)`,
      );
    }
  }
}

/** Aliases in PUBLISH packets the client receives, up to the Topic Alias Maximum it sent in CONNECT. */
export class IncomingTopicAliases {
  private readonly topics: (string | undefined)[] = [];

  constructor(
    /** Our Topic Alias Maximum; 0 means the server must not send aliases. */
    readonly maximum: number,
  ) {}

  /**
   * Applies the alias of a received PUBLISH: records the topic it names, or fills in the empty topic.
   * Throws MqttProtocolError 0x94 (Topic Alias invalid) for an alias out of range or not yet defined.
   */
  resolve(packet: PublishPacket, alias: number): void {
    if (alias < 1 || alias > this.maximum) {
      throw new MqttProtocolError(0x94, `Server used topic alias ${alias}; our Topic Alias Maximum is ${this.maximum}`);
    }
    if (packet.topic.length !== 0) {
      this.topics[alias] = packet.topic;
      return;
    }
    const topic = this.topics[alias];
    if (topic === undefined) throw new MqttProtocolError(0x94, `Server used topic alias ${alias} before defining it`);
    packet.topic = topic;
  }
}

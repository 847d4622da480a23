/**
 * Topic aliases the broker uses towards one client (spec 3.3.2.3.4, server → client): up to `max`
 * topics, each mapped to an alias 1..max, replaced by the clock algorithm (a cheap LRU approximation:
 * a hit sets a bit; on a miss with a full table, the hand clears set bits until it finds a clear one and
 * reuses that alias). Allocated on the first delivery, so an idle connection holds nothing, and bounded
 * by `max`, so memory does not grow with the topics a client ever received.
 */
export class OutgoingAliases {
  private readonly byTopic = new Map<string, number>();
  /** Topic per alias (index = alias; 0 unused). */
  private readonly topics: string[];
  private readonly referenced: Uint8Array;
  private hand = 1;
  /** Alias chosen by the last {@link lookup} that returned a new one, committed by {@link commit}. */
  private pendingTopic = '';
  private pendingAlias = 0;

  constructor(readonly max: number) {
    this.topics = new Array<string>(max + 1).fill('');
    this.referenced = new Uint8Array(max + 1);
  }

  /**
   * The alias for `topic`: positive when the client knows it already (send an empty topic name), negative
   * when it is new (send the topic with the alias; call {@link commit} once the packet is sure to go out).
   */
  lookup(topic: string): number {
    const known = this.byTopic.get(topic);
    if (known !== undefined) {
      this.referenced[known] = 1;
      return known;
    }
    let alias: number;
    if (this.byTopic.size < this.max) {
      alias = this.byTopic.size + 1;
    } else {
      const ref = this.referenced;
      let h = this.hand;
      while (ref[h] !== 0) {
        ref[h] = 0;
        h = h === this.max ? 1 : h + 1;
      }
      alias = h;
    }
    this.pendingTopic = topic;
    this.pendingAlias = alias;
    return -alias;
  }

  /** Records the mapping chosen by the last lookup that returned a new alias (the packet is being sent). */
  commit(): void {
    const alias = this.pendingAlias;
    const old = this.topics[alias]!;
    if (old !== '') this.byTopic.delete(old);
    this.topics[alias] = this.pendingTopic;
    this.byTopic.set(this.pendingTopic, alias);
    this.referenced[alias] = 1;
    if (this.byTopic.size === this.max) this.hand = alias === this.max ? 1 : alias + 1;
  }
}

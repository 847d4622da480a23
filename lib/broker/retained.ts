/**
 * The in-memory retained-message store: a trie of topic levels, so that a SUBSCRIBE with a filter visits
 * only the matching branches instead of scanning every retained topic.
 */
import type { RetainedMessage, RetainedStore } from './store.js';

class RetainedNode {
  children: Map<string, RetainedNode> | null = null;
  message: RetainedMessage | null = null;
  constructor(
    readonly parent: RetainedNode | null,
    readonly level: string,
  ) {}
}

/** {@link RetainedStore} in memory. */
export class MemoryRetainedStore implements RetainedStore {
  private readonly root = new RetainedNode(null, '');
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(message: RetainedMessage): void {
    let node = this.root;
    for (const level of message.topic.split('/')) {
      const children = (node.children ??= new Map());
      let next = children.get(level);
      if (next === undefined) {
        next = new RetainedNode(node, level);
        children.set(level, next);
      }
      node = next;
    }
    if (node.message === null) this.count++;
    node.message = message;
  }

  delete(topic: string): boolean {
    const node = this.find(topic);
    if (node === undefined || node.message === null) return false;
    node.message = null;
    this.count--;
    // Prune the branch up to the first ancestor still in use.
    let n: RetainedNode = node;
    while (n.parent !== null && n.message === null && (n.children === null || n.children.size === 0)) {
      n.parent.children!.delete(n.level);
      n = n.parent;
    }
    return true;
  }

  get(topic: string): RetainedMessage | undefined {
    return this.find(topic)?.message ?? undefined;
  }

  match(filter: string, visit: (message: RetainedMessage) => void): void {
    const levels = filter.split('/');
    const n = levels.length;
    // Explicit stack: filters and topics may be thousands of levels deep.
    const nodes: RetainedNode[] = [this.root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const i = depths.pop()!;
      if (i === n) {
        if (node.message !== null) visit(node.message);
        continue;
      }
      const level = levels[i]!;
      if (level === '#') {
        // `a/#` matches `a` itself too; at the root a wildcard does not match `$` topics.
        if (node !== this.root && node.message !== null) visit(node.message);
        this.visitBelow(node, node === this.root, visit);
      } else if (level === '+') {
        if (node.children === null) continue;
        for (const [name, child] of node.children) {
          if (i === 0 && name.charCodeAt(0) === 0x24) continue;
          nodes.push(child);
          depths.push(i + 1);
        }
      } else {
        const child = node.children?.get(level);
        if (child !== undefined) {
          nodes.push(child);
          depths.push(i + 1);
        }
      }
    }
  }

  /** Every stored message, `$` topics included. */
  all(): RetainedMessage[] {
    const out: RetainedMessage[] = [];
    this.visitBelow(this.root, false, (m) => out.push(m));
    return out;
  }

  private visitBelow(start: RetainedNode, skipDollar: boolean, visit: (message: RetainedMessage) => void): void {
    const stack: RetainedNode[] = [];
    if (start.children !== null) {
      for (const [name, child] of start.children) {
        if (skipDollar && name.charCodeAt(0) === 0x24) continue;
        stack.push(child);
      }
    }
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.message !== null) visit(node.message);
      if (node.children !== null) for (const child of node.children.values()) stack.push(child);
    }
  }

  private find(topic: string): RetainedNode | undefined {
    let node: RetainedNode | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node;
  }
}

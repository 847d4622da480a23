/**
 * The structure of lib/ as the house rules state it, checked on the real import graph (type-only
 * imports count): no import cycle between files, and a layer reaches another only downward and only
 * through its entry (`index.ts`, or `internal.ts` for building blocks shared between layers).
 */
import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCycles, findLayerViolations, readImportGraph, type ImportGraph } from '../../helpers/import-graph.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const graph = readImportGraph(ROOT);

describe('the checker itself', () => {
  const sample: ImportGraph = new Map([
    ['lib/broker/a.ts', ['lib/broker/b.ts']],
    ['lib/broker/b.ts', ['lib/broker/c.ts', 'lib/codec/index.ts']],
    ['lib/broker/c.ts', ['lib/broker/a.ts']],
    ['lib/broker/self.ts', ['lib/broker/self.ts']],
    ['lib/broker/index.ts', ['lib/broker/a.ts']],
    ['lib/codec/index.ts', []],
    ['lib/nest/x.ts', ['lib/broker/index.ts', 'lib/broker/internal.ts', 'lib/broker/a.ts']],
    ['lib/client/y.ts', ['lib/nest/x.ts', 'lib/broker/index.ts']],
    ['lib/index.ts', ['lib/nest/index.ts', 'lib/broker/internal.ts']],
  ]);

  it('finds every cycle, type-only or not, with its path', () => {
    expect(findCycles(sample)).toEqual([
      'lib/broker/a.ts → lib/broker/b.ts → lib/broker/c.ts → lib/broker/a.ts  (all files in this cycle: lib/broker/a.ts, lib/broker/b.ts, lib/broker/c.ts)',
      'lib/broker/self.ts → lib/broker/self.ts  (all files in this cycle: lib/broker/self.ts)',
    ]);
  });

  it('flags imports into a layer past its entries, upward or sideways, and internal entries at the root', () => {
    expect(findLayerViolations(sample)).toEqual([
      'lib/nest/x.ts → lib/broker/a.ts: import lib/broker/index.ts (or lib/broker/internal.ts), not a file inside the layer',
      "lib/client/y.ts → lib/nest/x.ts: layer 'client' may not import layer 'nest' (only codec, store)",
      "lib/client/y.ts → lib/broker/index.ts: layer 'client' may not import layer 'broker' (only codec, store)",
      'lib/index.ts → lib/broker/internal.ts: the package root exposes only public entries, never an internal one',
    ]);
  });

  it('reads type-only imports and re-exports from the real sources', () => {
    // lib/nest/framing.ts imports the client layer only for types; lib/index.ts only re-exports.
    expect(graph.get('lib/nest/framing.ts')).toContain('lib/client/index.ts');
    expect(graph.get('lib/index.ts')).toEqual(expect.arrayContaining(['lib/nest/index.ts', 'lib/broker/index.ts']));
    expect(graph.size).toBeGreaterThan(50);
  });
});

describe('lib/ import graph', () => {
  it('has no import cycle between files', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('crosses layers only downward and only through index.ts or internal.ts', () => {
    expect(findLayerViolations(graph)).toEqual([]);
  });
});

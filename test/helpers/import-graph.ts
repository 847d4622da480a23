/**
 * The import graph of lib/: every relative `import` / `import type` / `export … from` / dynamic
 * `import()` of each file (TypeScript's own pre-processor finds them, type-only ones included), and
 * the two structure rules read from it: no cycles, and layers that meet only through an entry file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** File (path relative to the repository, `/`-separated) → the lib/ files it imports. */
export type ImportGraph = Map<string, string[]>;

/** Files of a layer that other layers may import: its public entry and its internal entry for siblings. */
export const LAYER_ENTRIES = ['index.ts', 'internal.ts'];

/** Which layers each layer may import (downward only: codec, store ← client/broker ← nest ← health, cli); '' is the package root, lib/index.ts. */
export const LAYER_DEPENDENCIES: Record<string, readonly string[]> = {
  codec: [],
  store: [],
  client: ['codec', 'store'],
  broker: ['codec', 'store'],
  nest: ['codec', 'client', 'broker'],
  health: ['codec', 'client', 'broker', 'nest'],
  cli: ['codec', 'client', 'broker', 'nest'],
  '': ['codec', 'client', 'broker', 'nest'],
};

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Reads the import graph of every .ts file under `root`/lib. Throws on a relative import that names no file. */
export function readImportGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const rel = (p: string) => path.relative(root, p).split(path.sep).join('/');
  const files = listTs(path.join(root, 'lib')).sort();
  const known = new Set(files.map(rel));
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package or node: builtin
      const base = path.resolve(path.dirname(file), fileName);
      const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')].map(rel);
      const target = candidates.find((c) => known.has(c));
      if (target === undefined) throw new Error(`${rel(file)}: cannot resolve the import '${fileName}'`);
      if (!targets.includes(target)) targets.push(target);
    }
    graph.set(rel(file), targets);
  }
  return graph;
}

/**
 * Every import cycle, as one closed path per strongly connected component (Tarjan), e.g.
 * `a.ts → b.ts → a.ts`. Components are listed by their smallest file, paths start there.
 */
export function findCycles(graph: ImportGraph): string[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components
    .sort((a, b) => (a[0]! < b[0]! ? -1 : 1))
    .map((component) => `${cyclePath(graph, new Set(component), component[0]!).join(' → ')}  (all files in this cycle: ${component.join(', ')})`);
}

/** A shortest closed path from `start` back to itself inside one component (breadth-first). */
function cyclePath(graph: ImportGraph, component: Set<string>, start: string): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const inner: string[] = [];
        for (let at = v; at !== start; at = parent.get(at)!) inner.unshift(at);
        return [start, ...inner, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/** The layer of a lib/ file: its first folder under lib/ ('' for lib/index.ts). */
export function layerOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : '';
}

/**
 * Imports that cross layers the wrong way: into a layer's file other than its entries
 * ({@link LAYER_ENTRIES}), from the package root into an internal entry, or up/sideways
 * ({@link LAYER_DEPENDENCIES}). One line per offending import.
 */
export function findLayerViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to === from) continue;
      const name = target.slice(target.lastIndexOf('/') + 1);
      const allowedLayers = LAYER_DEPENDENCIES[from];
      if (allowedLayers === undefined) {
        out.push(`${file} → ${target}: layer '${from}' is not in LAYER_DEPENDENCIES`);
      } else if (!allowedLayers.includes(to)) {
        out.push(`${file} → ${target}: layer '${from || 'root'}' may not import layer '${to || 'root'}' (only ${allowedLayers.join(', ') || 'nothing'})`);
      } else if (!LAYER_ENTRIES.includes(name)) {
        out.push(`${file} → ${target}: import lib/${to}/index.ts (or lib/${to}/internal.ts), not a file inside the layer`);
      } else if (from === '' && name !== 'index.ts') {
        out.push(`${file} → ${target}: the package root exposes only public entries, never an internal one`);
      }
    }
  }
  return out;
}

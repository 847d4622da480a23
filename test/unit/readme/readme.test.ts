/**
 * The README cannot rot: every ```ts block is type-checked as its own module against the real
 * sources (`nest-mqtt5`, `nest-mqtt5/client`, `…/broker`, `…/codec` mapped to lib/), and the
 * sections a newcomer relies on are present. (The CLI lines are run by test/e2e/cli/readme.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, SOURCE_ENTRIES, typecheck, type TypecheckProject } from '../../helpers/typecheck.js';

interface Block {
  /** 1-based line of the block's first code line in README.md. */
  line: number;
  code: string;
  /** Name of the block's module in the checked project. */
  file: string;
}

/** The fenced blocks of `lang` (exactly), with their position. */
function fencedBlocks(markdown: string, lang: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```' + lang) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    out.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

let readme: string;
let blocks: Block[];
let project: TypecheckProject;

beforeAll(async () => {
  readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  blocks = fencedBlocks(readme, 'ts').map((b, i) => ({ ...b, file: `block-${String(i + 1).padStart(2, '0')}.ts` }));
  project = await typecheck({
    name: 'readme-check',
    files: Object.fromEntries(blocks.map((b) => [b.file, b.code])),
    paths: SOURCE_ENTRIES,
  });
}, 120_000);

afterAll(async () => {
  await project?.remove();
});

describe('README.md', () => {
  it('has TypeScript examples, all in ```ts blocks (other spellings would escape the check)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(readme).not.toMatch(/^```(typescript|tsx|js|javascript)\s*$/m);
  });

  it('every ```ts example type-checks against the sources', () => {
    const failures = blocks
      .filter((b) => project.diagnostics.has(path.join(project.dir, b.file)))
      .map((b) => {
        const shifted = project.diagnostics.get(path.join(project.dir, b.file))!.map((m) => m.replace(/^line (\d+)/, (_, n: string) => `README.md line ${b.line + Number(n) - 1}`));
        return `block at README.md line ${b.line}:\n  ${shifted.join('\n  ')}`;
      });
    expect(failures).toEqual([]);
  });

  it('starts with the two commands of the quick start', () => {
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## The four layers'));
    const commands = fencedBlocks(quick, 'bash').map((b) => b.code.trim());
    expect(commands).toEqual(['npm ci && npm run sample', 'npm test']);
  });

  it('names only npm scripts that exist (quick start, benchmarks, development)', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const named = [...readme.matchAll(/\bnpm run ([\w:-]+)/g)].map((m) => m[1]!);
    expect(named).toEqual(expect.arrayContaining(['sample', 'bench', 'typecheck', 'test:unit', 'build', 'fuzz']));
    expect([...new Set(named)].filter((name) => pkg.scripts[name] === undefined)).toEqual([]);
    expect(pkg.scripts.test).toBeDefined(); // `npm test`
  });

  it('has a scale-out section with a shared-subscription example and a feature table with the v5 essentials', () => {
    const scale = readme.slice(readme.indexOf('## Scaling out on a clustered broker'), readme.indexOf('## Supported MQTT v5 features'));
    expect(scale).toMatch(/```ts\n[\s\S]*subscribeOptions: \{ share:/);
    expect(scale).toContain('$share/');
    const table = readme.slice(readme.indexOf('## Supported MQTT v5 features'), readme.indexOf('## Benchmarks'));
    expect(table).toContain('| Feature | Codec | Client | Broker | Nest transport |');
    for (const feature of ['Shared subscriptions', 'Request/response', 'User properties', 'Message expiry', 'Topic aliases', 'Will messages', 'Flow control']) {
      expect(table).toMatch(new RegExp(`^\\| ${feature}[^\n]*\\|$`, 'm'));
    }
  });

  it('starts with Install (peers, ESM, Node and Nest versions) before the quick start', () => {
    const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('## Quick start'));
    expect(readme.indexOf('## Install')).toBeGreaterThan(-1);
    expect(readme.indexOf('## Install')).toBeLessThan(readme.indexOf('## Quick start'));
    expect(fencedBlocks(install, 'bash').map((b) => b.code.trim())).toEqual([
      'npm i nest-mqtt5 @nestjs/common @nestjs/core @nestjs/microservices reflect-metadata rxjs',
    ]);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; peerDependencies: Record<string, string> };
    expect(install).toContain(`Node.js ≥ ${pkg.engines.node.replace('>=', '')}`);
    for (const peer of Object.keys(pkg.peerDependencies)) expect(install).toContain(`\`${peer}\``);
    for (const text of ['ESM only', 'Nest 12', '@nestjs/config', 'npm ls @nestjs/common']) expect(install).toContain(text);
  });

  it('maps every Transport.MQTT option in the migration section and explains compat mode', () => {
    const migration = readme.slice(readme.indexOf('## Migrating from Transport.MQTT'), readme.indexOf('### Custom serializers and deserializers'));
    const rows = migration.split('\n').filter((l) => l.startsWith('| '));
    for (const name of ['`url`', '`clientId`', '`username`', 'QoS', '`subscribeOptions', '`userProperties`', '`serializer`', '`deserializer`', '`MqttRecordBuilder`', '`MqttContext`']) {
      expect(rows.filter((r) => r.startsWith(`| ${name}`))).toHaveLength(1);
    }
    for (const text of ['QoS 1 by default', 'Acknowledged after the handler', 'No JSON envelope', 'response topic', 'compat: true']) expect(migration).toContain(text);
  });

  it('covers the four layers, the Nest transport, the client models, the broker and CLI, scaling out, features and benchmarks', () => {
    for (const heading of [
      '### Codec',
      '### Client',
      '### Broker',
      '### Nest transport',
      '## Install',
      '## Nest',
      '## Migrating from Transport.MQTT',
      '### Custom serializers and deserializers',
      '### MqttBrokerModule: an embedded broker (tests, single-node deployments)',
      '## Client: pull and push, reconnects',
      '## Broker and CLI',
      '## Scaling out on a clustered broker',
      '## Supported MQTT v5 features',
      '## Benchmarks',
    ]) {
      expect(readme).toContain(`\n${heading}\n`);
    }
    expect(readme).toContain('<!-- nest-section:start');
    expect(readme).toContain('<!-- nest-section:end -->');
    expect(readme).toContain('`npm run bench`');
  });
});

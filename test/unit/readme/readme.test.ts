/**
 * The README cannot rot: every ```ts block is type-checked as its own module against the real
 * sources (`nest-mqtt5`, `nest-mqtt5/client`, `…/broker`, `…/codec` mapped to lib/), and the
 * sections a newcomer relies on are present. (The CLI lines are run by test/e2e/cli/readme.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Inside the repository (so node_modules and lib/ resolve) and git-ignored (`/tmp/`). */
const WORK = path.join(ROOT, 'tmp', `readme-check-${process.pid}`);

interface Block {
  /** 1-based line of the block's first code line in README.md. */
  line: number;
  code: string;
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
const diagnosticsByFile = new Map<string, string[]>();

beforeAll(async () => {
  readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  blocks = fencedBlocks(readme, 'ts').map((b, i) => ({ ...b, file: path.join(WORK, `block-${String(i + 1).padStart(2, '0')}.ts`) }));
  await mkdir(WORK, { recursive: true });
  for (const b of blocks) await writeFile(b.file, `${b.code}\n`);
  const rel = (p: string) => path.relative(WORK, path.join(ROOT, p)).split(path.sep).join('/');
  await writeFile(
    path.join(WORK, 'tsconfig.json'),
    JSON.stringify({
      extends: rel('tsconfig.json'),
      compilerOptions: {
        noEmit: true,
        rootDir: rel('.'),
        paths: {
          'nest-mqtt5': [rel('lib/index.ts')],
          'nest-mqtt5/client': [rel('lib/client/index.ts')],
          'nest-mqtt5/broker': [rel('lib/broker/index.ts')],
          'nest-mqtt5/codec': [rel('lib/codec/index.ts')],
          'nest-mqtt5/health': [rel('lib/health/index.ts')],
          'nest-mqtt5/observability': [rel('lib/nest/observability/index.ts')],
        },
      },
      include: ['*.ts'],
    }),
  );
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(WORK, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('could not read the README tsconfig');
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file?.fileName === undefined ? '' : path.resolve(d.file.fileName);
    // Errors inside lib/ are the type-check's business (npm run typecheck); here only the examples count.
    if (!file.startsWith(WORK)) continue;
    const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    const list = diagnosticsByFile.get(file) ?? [];
    list.push(`line ${line + 1}:${character + 1} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    diagnosticsByFile.set(file, list);
  }
}, 120_000);

afterAll(async () => {
  await rm(WORK, { recursive: true, force: true });
});

describe('README.md', () => {
  it('has TypeScript examples, all in ```ts blocks (other spellings would escape the check)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(readme).not.toMatch(/^```(typescript|tsx|js|javascript)\s*$/m);
  });

  it('every ```ts example type-checks against the sources', () => {
    const failures = blocks
      .filter((b) => diagnosticsByFile.has(b.file))
      .map((b) => {
        const shifted = diagnosticsByFile.get(b.file)!.map((m) => m.replace(/^line (\d+)/, (_, n: string) => `README.md line ${b.line + Number(n) - 1}`));
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

  it('covers the four layers, the Nest transport, the client models, the broker and CLI, scaling out, features and benchmarks', () => {
    for (const heading of [
      '### Codec',
      '### Client',
      '### Broker',
      '### Nest transport',
      '## Nest',
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

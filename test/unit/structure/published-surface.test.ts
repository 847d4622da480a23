/**
 * What users get from the published package: the declarations of lib/ built as `npm run build`
 * builds them (tsconfig.build.json), laid out as `npm pack` ships them (package.json and its
 * `exports` over dist/lib), and probed by a user's project that imports `nest-mqtt5` and its three
 * subpaths through node_modules, exactly as TypeScript resolves them there.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { projectDir, ROOT, typecheck, type TypecheckProject } from '../../helpers/typecheck.js';

const NAME = 'published-surface';
const ENTRIES = ['nest-mqtt5', 'nest-mqtt5/client', 'nest-mqtt5/broker', 'nest-mqtt5/codec'] as const;

/** Building blocks shared between layers (lib/<layer>/internal.ts): in no published entry. */
const INTERNALS = [
  'Queue',
  'TopicTree',
  'SharedGroup',
  'ClientSession',
  'ExponentialBackoff',
  'DEFAULT_OPTIONS',
  'Session',
  'BackoffOptions',
  'SubscriptionEntry',
  'SubscriptionOptions',
];

/** A few documented names per entry: proof that the probe really reached the package. */
const DOCUMENTED: Record<(typeof ENTRIES)[number], string[]> = {
  'nest-mqtt5': ['ServerMqtt5', 'ClientMqtt5', 'MqttBrokerModule', 'MqttBroker', 'MqttClient', 'Mqtt5Context'],
  'nest-mqtt5/client': ['MqttClient', 'MessageReceiver', 'connectionFromUrl', 'MemorySessionStore'],
  'nest-mqtt5/broker': ['MqttBroker', 'MemorySessionStore', 'MemoryRetainedStore', 'BrokerOptionsError'],
  'nest-mqtt5/codec': ['encodePacket', 'PacketDecoder', 'PacketType'],
};

/** Emits the declarations of lib/ with the build's options into `<dir>/node_modules/nest-mqtt5/dist`. */
async function buildPackage(dir: string): Promise<void> {
  const pkg = path.join(dir, 'node_modules', 'nest-mqtt5');
  await mkdir(pkg, { recursive: true });
  await copyFile(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.build.json'),
    { outDir: path.join(pkg, 'dist'), noEmit: false, declaration: true, emitDeclarationOnly: true, sourceMap: false, declarationMap: false },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (parsed === undefined) throw new Error('could not read tsconfig.build.json');
  const lib = path.join(ROOT, 'lib') + path.sep;
  const program = ts.createProgram(parsed.fileNames.filter((f) => path.resolve(f).startsWith(lib)), parsed.options);
  const result = program.emit();
  const errors = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  if (result.emitSkipped || errors.length > 0) throw new Error(`declaration build failed:\n${errors.join('\n')}`);
}

const PROBE = ENTRIES.map((entry, i) => `import * as entry${i} from '${entry}';`).join('\n') + `\nexport { ${ENTRIES.map((_, i) => `entry${i}`).join(', ')} };`;

/** A Nest provider that injects the broker by its constructor type, as the README says it can. */
const INJECT = `import { Injectable, Module } from '@nestjs/common';
import { MqttBroker, MqttBrokerModule } from 'nest-mqtt5';

@Injectable()
export class BrokerStats {
  constructor(readonly broker: MqttBroker) {}

  connected(clientId: string): boolean {
    return this.broker.isConnected(clientId);
  }
}

@Module({ imports: [MqttBrokerModule.forRoot()], providers: [BrokerStats] })
export class AppModule {}`;

/** The control: the same provider over a type-only export, as the root had it — must not compile. */
const TYPE_ONLY_ROOT = `export type { MqttBroker } from 'nest-mqtt5';`;
const INJECT_TYPE_ONLY = `import { Injectable } from '@nestjs/common';
import { MqttBroker } from './type-only-root.js';

@Injectable()
export class BrokerStats {
  constructor(readonly broker: MqttBroker) {}
}`;

let project: TypecheckProject;

beforeAll(async () => {
  await buildPackage(projectDir(NAME));
  project = await typecheck({
    name: NAME,
    // A package scope of its own, so that 'nest-mqtt5' resolves through node_modules, not to the repository.
    packageJson: { name: 'surface-probe', private: true, type: 'module' },
    files: { 'probe.ts': PROBE, 'inject.ts': INJECT, 'type-only-root.ts': TYPE_ONLY_ROOT, 'inject-type-only.ts': INJECT_TYPE_ONLY },
  });
}, 180_000);

afterAll(async () => {
  await project?.remove();
});

/** The names each entry exports, as the probe's checker resolves them (transitively, through every `export … from`). */
function exportsByEntry(): Map<string, { names: string[]; file: string }> {
  const checker = project.program.getTypeChecker();
  const probe = project.program.getSourceFile(path.join(project.dir, 'probe.ts'))!;
  const out = new Map<string, { names: string[]; file: string }>();
  for (const statement of probe.statements) {
    if (!ts.isImportDeclaration(statement)) continue;
    const entry = (statement.moduleSpecifier as ts.StringLiteral).text;
    const moduleSymbol = checker.getSymbolAtLocation(statement.moduleSpecifier);
    if (moduleSymbol === undefined) throw new Error(`'${entry}' did not resolve`);
    const file = path.relative(project.dir, moduleSymbol.declarations![0]!.getSourceFile().fileName).split(path.sep).join('/');
    out.set(entry, { names: checker.getExportsOfModule(moduleSymbol).map((s) => s.name).sort(), file });
  }
  return out;
}

describe('the published package', () => {
  it('resolves its four entries to the built declarations', () => {
    expect(project.diagnostics.get(path.join(project.dir, 'probe.ts'))).toBeUndefined();
    const files = Object.fromEntries([...exportsByEntry()].map(([entry, { file }]) => [entry, file]));
    expect(files).toEqual({
      'nest-mqtt5': 'node_modules/nest-mqtt5/dist/lib/index.d.ts',
      'nest-mqtt5/client': 'node_modules/nest-mqtt5/dist/lib/client/index.d.ts',
      'nest-mqtt5/broker': 'node_modules/nest-mqtt5/dist/lib/broker/index.d.ts',
      'nest-mqtt5/codec': 'node_modules/nest-mqtt5/dist/lib/codec/index.d.ts',
    });
  });

  it.each(ENTRIES)('%s declares its documented API and none of the internal building blocks', (entry) => {
    const { names } = exportsByEntry().get(entry)!;
    expect(names).toEqual(expect.arrayContaining(DOCUMENTED[entry]));
    expect(names.filter((name) => INTERNALS.includes(name))).toEqual([]);
  });

  it('lets a Nest provider inject MqttBroker imported from nest-mqtt5 (isolatedModules + emitDecoratorMetadata)', () => {
    expect(project.program.getCompilerOptions()).toMatchObject({ isolatedModules: true, emitDecoratorMetadata: true, experimentalDecorators: true });
    expect(project.diagnostics.get(path.join(project.dir, 'inject.ts'))).toBeUndefined();
  });

  it('would catch a type-only export of MqttBroker (TS1272), as the root had it', () => {
    const found = project.diagnostics.get(path.join(project.dir, 'inject-type-only.ts')) ?? [];
    expect(found).toEqual([expect.stringContaining('TS1272')]);
  });
});

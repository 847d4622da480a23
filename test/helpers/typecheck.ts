/**
 * Type-checks small TypeScript files as a user's project would: written into a folder of their own
 * inside the repository (so node_modules resolves; `/tmp/` is git-ignored), with a tsconfig that
 * extends the repository's (nodenext, isolatedModules, emitDecoratorMetadata — as a Nest app
 * compiles). Used by the README check and the published-surface checks.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The package's entry points mapped to the sources, for `paths` (relative to the repository root). */
export const SOURCE_ENTRIES: Record<string, string> = {
  'nest-mqtt5': 'lib/index.ts',
  'nest-mqtt5/client': 'lib/client/index.ts',
  'nest-mqtt5/broker': 'lib/broker/index.ts',
  'nest-mqtt5/codec': 'lib/codec/index.ts',
  'nest-mqtt5/health': 'lib/health/index.ts',
  'nest-mqtt5/observability': 'lib/nest/observability/index.ts',
};

export interface TypecheckProject {
  /** Folder the files and the tsconfig are written to; removed by {@link TypecheckProject.remove}. */
  readonly dir: string;
  readonly program: ts.Program;
  /** Diagnostics in the written files (errors elsewhere are `npm run typecheck`'s business), by absolute path. */
  readonly diagnostics: Map<string, string[]>;
  remove(): Promise<void>;
}

export interface TypecheckOptions {
  /** Name of the folder under `<root>/tmp/` (the pid is appended). */
  name: string;
  /** File name (relative to the folder) → contents. */
  files: Record<string, string>;
  /** Module name → file relative to the repository root, e.g. {@link SOURCE_ENTRIES}. */
  paths?: Record<string, string>;
  /** Written as `<folder>/package.json` when given (a package scope of its own: no self-reference to nest-mqtt5). */
  packageJson?: object;
  compilerOptions?: Record<string, unknown>;
}

/** The folder of the project named `name` (this process's own: tests may run side by side). */
export function projectDir(name: string): string {
  return path.join(ROOT, 'tmp', `${name}-${process.pid}`);
}

/** Writes the files and a tsconfig into {@link projectDir}, and type-checks them. */
export async function typecheck(options: TypecheckOptions): Promise<TypecheckProject> {
  const dir = projectDir(options.name);
  await mkdir(dir, { recursive: true });
  for (const [name, code] of Object.entries(options.files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), `${code}\n`);
  }
  if (options.packageJson) await writeFile(path.join(dir, 'package.json'), JSON.stringify(options.packageJson));
  const rel = (p: string) => path.relative(dir, path.join(ROOT, p)).split(path.sep).join('/');
  const paths = options.paths
    ? Object.fromEntries(Object.entries(options.paths).map(([name, file]) => [name, [rel(file)]]))
    : undefined;
  await writeFile(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: rel('tsconfig.json'),
      compilerOptions: { noEmit: true, rootDir: rel('.'), ...(paths ? { paths } : {}), ...options.compilerOptions },
      files: Object.keys(options.files),
    }),
  );
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(dir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error(`could not read ${dir}/tsconfig.json`);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const diagnostics = new Map<string, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file?.fileName === undefined ? '' : path.resolve(d.file.fileName);
    if (!file.startsWith(dir + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`)) continue;
    const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    const list = diagnostics.get(file) ?? [];
    list.push(`line ${line + 1}:${character + 1} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    diagnostics.set(file, list);
  }
  return { dir, program, diagnostics, remove: () => rm(dir, { recursive: true, force: true }) };
}

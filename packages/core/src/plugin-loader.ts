/**
 * Engine discovery. An engine package declares the executors it serves in its
 * package.json (`"talkies": { "executors": [...] }`) and default-exports a
 * {@link EngineDefinition}. At boot the server scans the application's dependencies for
 * such packages and imports only those whose executors models.json uses. A models.json
 * entry may name a `package` instead (third-party engines). Core never names an engine.
 *
 * Packages are found with Node's own resolution, from the application's directory:
 * `findPackageJSON` for a package's manifest and the ESM resolver (`import-meta-resolve`,
 * since `import.meta.resolve` takes no parent URL without a flag) for its entry points,
 * so exports maps, conditions and subpath patterns behave exactly as `import` does.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire, findPackageJSON } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveSpecifier } from 'import-meta-resolve';
import semver from 'semver';
import type { EngineDefinition } from './define-engine.js';
import { SpeechError } from './speech-error.js';

/** The version of this core, checked against each engine's `coreRange`. */
export const CORE_VERSION: string = createRequire(import.meta.url)('../package.json').version;

/** The Backend contract versions this core speaks. */
export const SPECIFICATION_VERSIONS: readonly string[] = ['v1'];

export interface DiscoveredEngine {
  packageName: string;
  executors: string[];
  /** Absolute path of the package directory. */
  directory: string;
  /** The application directory it was found from (the parent for resolving its subpaths). */
  baseDirectory: string;
}

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  talkies?: { executors?: unknown };
}

async function readPackageJson(path: string): Promise<PackageJson | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** The file URL that resolution starts from for an application directory. */
function parentUrl(baseDirectory: string): string {
  return pathToFileURL(join(baseDirectory, 'package.json')).href;
}

/**
 * The file `import(specifier)` would load from the application in `baseDirectory`, or
 * undefined when the package (or that subpath of it) is not installed there.
 */
export function resolveFrom(specifier: string, baseDirectory: string): string | undefined {
  try {
    const file = fileURLToPath(resolveSpecifier(specifier, parentUrl(baseDirectory)));
    // A subpath pattern maps any name to a path; only an existing file is an answer.
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

/** The package.json of an installed package, as Node finds it from `baseDirectory`. */
function manifestPath(packageName: string, baseDirectory: string): string | undefined {
  try {
    return findPackageJSON(packageName, parentUrl(baseDirectory));
  } catch {
    return undefined;
  }
}

/**
 * Scan the dependencies of the application in `baseDirectory` (its package.json) for
 * engine packages. Returns executor → engine; the first package to claim an executor wins.
 */
export async function discoverEngines(baseDirectory: string): Promise<Map<string, DiscoveredEngine>> {
  const found = new Map<string, DiscoveredEngine>();
  // The application is the nearest package.json at or above the directory, as for npm.
  let root: PackageJson | undefined;
  for (let directory = baseDirectory; ; directory = dirname(directory)) {
    root = await readPackageJson(join(directory, 'package.json'));
    if (root) {
      baseDirectory = directory;
      break;
    }
    if (directory === dirname(directory)) return found;
  }
  const names = new Set([
    ...Object.keys(root.dependencies ?? {}),
    ...Object.keys(root.optionalDependencies ?? {}),
    ...Object.keys(root.devDependencies ?? {}),
  ]);
  for (const name of names) {
    const path = manifestPath(name, baseDirectory);
    if (!path) continue;
    const executors = (await readPackageJson(path))?.talkies?.executors;
    if (!Array.isArray(executors)) continue;
    const engine = { packageName: name, executors: executors.map(String), directory: dirname(path), baseDirectory };
    for (const executor of engine.executors) if (!found.has(executor)) found.set(executor, engine);
  }
  return found;
}

/** Every engine package reachable from the base directories, the first base winning. */
export async function discoverAllEngines(baseDirectories: readonly string[]): Promise<Map<string, DiscoveredEngine>> {
  const available = new Map<string, DiscoveredEngine>();
  for (const base of baseDirectories) {
    for (const [executor, engine] of await discoverEngines(base)) if (!available.has(executor)) available.set(executor, engine);
  }
  return available;
}

function isEngineDefinition(value: unknown): value is EngineDefinition {
  const candidate = value as EngineDefinition | undefined;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    Array.isArray(candidate.executors) &&
    typeof candidate.coreRange === 'string' &&
    typeof candidate.createBackend === 'function'
  );
}

/**
 * Import a module of an installed package (`name` or `name/subpath`), trying each base
 * directory in turn. Undefined when no base has it.
 */
export async function importFrom(specifier: string, baseDirectories: readonly string[]): Promise<unknown> {
  for (const base of baseDirectories) {
    const file = resolveFrom(specifier, base);
    if (file !== undefined) return import(pathToFileURL(file).href);
  }
  return undefined;
}

/** Import an engine package and check its contract version and declared core range. */
export async function importEngine(packageName: string, baseDirectories: readonly string[]): Promise<EngineDefinition> {
  const module = (await importFrom(packageName, baseDirectories)) as { default?: unknown } | undefined;
  if (module === undefined) {
    throw new SpeechError(
      'EXECUTOR_NOT_FOUND',
      `engine package '${packageName}' is not installed (looked from ${baseDirectories.join(', ')}); add it with \`pnpm add ${packageName}\``,
    );
  }
  const definition = module.default;
  if (!isEngineDefinition(definition)) {
    throw new SpeechError(
      'EXECUTOR_NOT_FOUND',
      `package '${packageName}' has no engine as its default export; export defineEngine({...}) from its entry point`,
    );
  }
  const contract = definition.specificationVersion ?? 'v1';
  if (!SPECIFICATION_VERSIONS.includes(contract)) {
    throw new SpeechError(
      'ENGINE_VERSION_MISMATCH',
      `engine '${packageName}' implements Backend contract ${String(contract)}, but this @talkies/core ${CORE_VERSION} speaks ${SPECIFICATION_VERSIONS.join(', ')}; install a version of the engine built for this core`,
    );
  }
  if (!semver.satisfies(CORE_VERSION, definition.coreRange, { includePrerelease: true })) {
    throw new SpeechError(
      'ENGINE_VERSION_MISMATCH',
      `engine '${packageName}' needs @talkies/core ${definition.coreRange} but this server runs ${CORE_VERSION}; install a matching version of the engine`,
    );
  }
  return definition;
}

/**
 * Engine discovery. An engine package declares the executors it serves in its
 * package.json (`"talkies": { "executors": [...] }`) and default-exports a
 * {@link EngineDefinition}. At boot the server scans the application's dependencies for
 * such packages and imports only those whose executors models.json uses. A models.json
 * entry may name a `package` instead (third-party engines). Core never names an engine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import type { EngineDefinition } from './define-engine.js';
import type { ModelRegistry } from './model-registry.js';
import { SpeechError } from './speech-error.js';

/** The version of this core, checked against each engine's `coreRange`. */
export const CORE_VERSION: string = createRequire(import.meta.url)('../package.json').version;

export interface DiscoveredEngine {
  packageName: string;
  executors: string[];
  /** Absolute path of the package directory. */
  directory: string;
}

interface PackageJson {
  name?: string;
  main?: string;
  exports?: unknown;
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

/** Find the package.json of `name` as seen from `baseDirectory`. */
function resolvePackageJson(name: string, baseDirectory: string): string | undefined {
  const require = createRequire(join(baseDirectory, 'package.json'));
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    // The exports map may hide package.json: walk up from the entry point instead.
  }
  let directory: string;
  try {
    directory = dirname(require.resolve(name));
  } catch {
    // An ESM-only package (exports with an `import` condition only) cannot be resolved
    // with require conditions: look it up in node_modules the way Node does.
    for (let base = baseDirectory; ; base = dirname(base)) {
      const candidate = join(base, 'node_modules', name, 'package.json');
      if (existsSync(candidate)) return candidate;
      if (base === dirname(base)) return undefined;
    }
  }
  for (; directory !== dirname(directory); directory = dirname(directory)) {
    const candidate = join(directory, 'package.json');
    try {
      if ((require(candidate) as PackageJson).name === name) return candidate;
    } catch {
      // no package.json at this level
    }
  }
  return undefined;
}

/** The target of an exports entry under the conditions `import()` uses, or undefined. */
function importTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const resolved = importTarget(item);
      if (resolved !== undefined) return resolved;
    }
    return undefined;
  }
  if (typeof target === 'object' && target !== null) {
    for (const [condition, value] of Object.entries(target)) {
      if (condition !== 'import' && condition !== 'node' && condition !== 'default') continue;
      const resolved = importTarget(value);
      if (resolved !== undefined) return resolved;
    }
  }
  return undefined;
}

/** The file `import(name)` loads for a package, read from its exports map (or main). */
function esmEntryPoint(manifestPath: string): string | undefined {
  let manifest: PackageJson;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
  const { exports } = manifest;
  const isSubpathMap =
    typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((key) => key.startsWith('.'));
  const target =
    exports === undefined
      ? (manifest.main ?? 'index.js')
      : importTarget(isSubpathMap ? (exports as Record<string, unknown>)['.'] : exports);
  return target === undefined ? undefined : join(dirname(manifestPath), target);
}

/**
 * Scan the dependencies of the application in `baseDirectory` (its package.json) for
 * engine packages. Returns executor → engine.
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
    const manifestPath = resolvePackageJson(name, baseDirectory);
    if (!manifestPath) continue;
    const manifest = await readPackageJson(manifestPath);
    const executors = manifest?.talkies?.executors;
    if (!Array.isArray(executors)) continue;
    const engine = { packageName: name, executors: executors.map(String), directory: dirname(manifestPath) };
    for (const executor of engine.executors) if (!found.has(executor)) found.set(executor, engine);
  }
  return found;
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

/** Import an engine package and check its declared core range. */
export async function importEngine(packageName: string, baseDirectories: readonly string[]): Promise<EngineDefinition> {
  let entry: string | undefined;
  for (const base of baseDirectories) {
    try {
      entry = createRequire(join(base, 'package.json')).resolve(packageName);
      break;
    } catch {
      // Not resolvable with require conditions (an ESM-only package?): read its exports map.
      const manifestPath = resolvePackageJson(packageName, base);
      entry = manifestPath === undefined ? undefined : esmEntryPoint(manifestPath);
      if (entry !== undefined) break;
    }
  }
  if (!entry) {
    throw new SpeechError(
      'EXECUTOR_NOT_FOUND',
      `engine package '${packageName}' is not installed (looked from ${baseDirectories.join(', ')}); add it with \`pnpm add ${packageName}\``,
    );
  }
  const module = (await import(pathToFileURL(entry).href)) as { default?: unknown };
  const definition = module.default;
  if (!isEngineDefinition(definition)) {
    throw new SpeechError(
      'EXECUTOR_NOT_FOUND',
      `package '${packageName}' has no engine as its default export; export defineEngine({...}) from its entry point`,
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

export interface ResolvedEngines {
  /** slug → engine definition */
  bySlug: Map<string, EngineDefinition>;
  /** every executor → package known at boot, for messages and `talkies models` */
  available: Map<string, DiscoveredEngine>;
}

/**
 * Resolve the engine of every model in the registry, importing each package once.
 * Every unknown executor is reported together.
 */
export async function resolveEngines(
  registry: ModelRegistry,
  baseDirectories: readonly string[],
): Promise<ResolvedEngines> {
  const available = new Map<string, DiscoveredEngine>();
  for (const base of baseDirectories) {
    for (const [executor, engine] of await discoverEngines(base)) if (!available.has(executor)) available.set(executor, engine);
  }
  const problems: string[] = [];
  const packageOf = new Map<string, string>();
  for (const [slug, entry] of registry.entries()) {
    const packageName = entry.package ?? available.get(entry.executor)?.packageName;
    if (!packageName) {
      problems.push(
        `model '${slug}': no such executor "${entry.executor}" (available: ${[...available.keys()].sort().join(', ') || 'none'}); install its engine package or set "package" in the entry`,
      );
    } else {
      packageOf.set(slug, packageName);
    }
  }
  if (problems.length > 0) throw new SpeechError('EXECUTOR_NOT_FOUND', problems.join('\n'));
  const definitions = new Map<string, Promise<EngineDefinition>>();
  const bySlug = new Map<string, EngineDefinition>();
  for (const [slug, packageName] of packageOf) {
    if (!definitions.has(packageName)) definitions.set(packageName, importEngine(packageName, baseDirectories));
    const definition = await definitions.get(packageName)!;
    const executor = registry.get(slug)!.executor;
    if (!definition.executors.includes(executor)) {
      throw new SpeechError(
        'EXECUTOR_NOT_FOUND',
        `model '${slug}': package '${packageName}' serves ${definition.executors.join(', ')}, not "${executor}"`,
      );
    }
    bySlug.set(slug, definition);
  }
  return { bySlug, available };
}

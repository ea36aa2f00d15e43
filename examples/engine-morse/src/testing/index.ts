/**
 * `@talkies-example/engine-morse/testing`: writes generated Morse models with the real
 * file layout, for this package's tests and for `pnpm fixtures`. Needs the dev-only
 * @talkies/testkit (an optional peer): production installs never load this module.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelEntry } from '@talkies/core';
import { CONFIG_FILE, MODEL_FILE } from '../model-files.js';
import { buildMorseModel } from './morse-graph.js';

export { buildMorseModel } from './morse-graph.js';

export const FIXTURE_SLUG = 'morse-tone';
export const FIXTURE_REPO = 'talkies-example/morse-tone';
export const FIXTURE_SAMPLE_RATE = 16000;

export interface MorseFixtureOptions {
  /** Slugs to write (default: all). */
  only?: Set<string>;
  sampleRate?: number;
}

/** Writes one model's files into `directory` (created if needed). */
export async function writeMorseModel(directory: string, sampleRate = FIXTURE_SAMPLE_RATE): Promise<void> {
  await mkdir(directory, { recursive: true });
  const files: Array<[string, string | Uint8Array]> = [
    [MODEL_FILE, buildMorseModel({ sampleRate })],
    [CONFIG_FILE, JSON.stringify({ sample_rate: sampleRate }, null, 2) + '\n'],
  ];
  for (const [name, data] of files) {
    // Written aside, then renamed: a crash never leaves half a file under the real name.
    await writeFile(join(directory, `${name}.tmp`), data);
    await rename(join(directory, `${name}.tmp`), join(directory, name));
  }
}

/** The `pnpm fixtures` convention: write `outDir/models/<slug>/`, return `{ slug: models.json entry }`. */
export async function writeFixtures(outDir: string, options: MorseFixtureOptions = {}): Promise<Record<string, ModelEntry>> {
  if (options.only && !options.only.has(FIXTURE_SLUG)) return {};
  await writeMorseModel(join(outDir, 'models', FIXTURE_SLUG), options.sampleRate);
  return {
    [FIXTURE_SLUG]: {
      repo: FIXTURE_REPO,
      executor: 'morse',
      modality: 'tts',
      license: 'MIT',
      default_voice: 'mid',
      words_per_minute: 20,
    } as ModelEntry,
  };
}

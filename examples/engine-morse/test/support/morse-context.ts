/** An EngineContext for one Morse model, as the server would build it from a models.json entry. */
import type { ModelEntry } from '@talkies/core';
import engine, { type MorseContext } from '../../src/index.js';

export function morseContext(dataDir: string, modelId: string, entry: Partial<ModelEntry> & Record<string, unknown> = {}, engineOptions: unknown = {}): MorseContext {
  const { words_per_minute, ...core } = entry;
  return {
    modelId,
    entry: { repo: `talkies-example/${modelId}`, executor: 'morse', ...core } as ModelEntry,
    options: engine.optionsSchema!.parse(engineOptions),
    fields: engine.entrySchema!.parse(words_per_minute === undefined ? {} : { words_per_minute }),
    paths: { dataDir, modelDir: `${dataDir}/models/${modelId}` },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal,
    now: () => performance.now(),
  };
}

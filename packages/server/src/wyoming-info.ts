/**
 * The Wyoming `info` answer to `describe`: what this server offers, in the shape Home
 * Assistant parses (wyoming's `Info`: every program, model and voice is an artifact with
 * `name`, `attribution`, `installed`, `description` and `version`; a missing required
 * field makes the client refuse the whole answer).
 *
 * Home Assistant uses only the first ASR program and the first installed TTS program, so
 * every ASR model goes into one program and every TTS model's voices into one other; a
 * voice is named `<model>/<voice>` so that a `synthesize` naming it finds its model.
 */
import { createRequire } from 'node:module';
import type { AsrBackend, ModelEntry, TtsBackend, VoiceInfo } from '@talkies/core';
import type { Logger } from 'pino';
import type { ModelCatalog } from './model-catalog.js';

const SERVER_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
const TALKIES_URL = 'https://github.com/talkies/talkies';
const TALKIES = { name: 'talkies', url: TALKIES_URL } as const;

/** Separates the model from the voice in a Wyoming voice name. */
export const VOICE_SEPARATOR = '/';

/** At most this many voices per model go into `info`, so the answer stays small and fast. */
const MAX_VOICES_PER_MODEL = 500;

/**
 * What a model that takes any language is listed with: the ISO 639-1 codes of the
 * languages multilingual speech models commonly cover. Home Assistant offers a model
 * for the pipeline languages found here.
 */
const ANY_LANGUAGE = [
  'af', 'am', 'ar', 'as', 'az', 'ba', 'be', 'bg', 'bn', 'bo', 'br', 'bs', 'ca', 'cs', 'cy', 'da', 'de', 'el', 'en',
  'es', 'et', 'eu', 'fa', 'fi', 'fo', 'fr', 'gl', 'gu', 'ha', 'he', 'hi', 'hr', 'ht', 'hu', 'hy', 'id', 'is', 'it',
  'ja', 'jv', 'ka', 'kk', 'km', 'kn', 'ko', 'la', 'lb', 'ln', 'lo', 'lt', 'lv', 'mg', 'mi', 'mk', 'ml', 'mn', 'mr',
  'ms', 'mt', 'my', 'ne', 'nl', 'nn', 'no', 'oc', 'pa', 'pl', 'ps', 'pt', 'ro', 'ru', 'sa', 'sd', 'si', 'sk', 'sl',
  'sn', 'so', 'sq', 'sr', 'su', 'sv', 'sw', 'ta', 'te', 'tg', 'th', 'tk', 'tl', 'tr', 'tt', 'uk', 'ur', 'uz', 'vi',
  'yi', 'yo', 'zh',
];

export interface WyomingInfoOptions {
  /** Whether ASR models are offered (transcription is served). */
  transcription: boolean;
  /** Whether `transcript-chunk` events are sent while audio arrives. */
  transcriptStreaming: boolean;
}

function attribution(entry: ModelEntry): { name: string; url: string } {
  const repo = entry.repo;
  if (typeof repo === 'string' && /^[\w.-]+\/[\w.-]+$/.test(repo)) {
    return { name: repo.slice(0, repo.indexOf('/')), url: `https://huggingface.co/${repo}` };
  }
  return TALKIES;
}

function languageList(languages: readonly string[] | 'any' | undefined): string[] {
  if (languages === undefined || languages === 'any') return [...ANY_LANGUAGE];
  const listed = languages.filter((language) => language !== 'auto' && language !== 'any');
  return listed.length > 0 ? [...listed] : [...ANY_LANGUAGE];
}

/** The Wyoming voice name of a model's voice. */
export function wyomingVoiceName(slug: string, voice: string): string {
  return `${slug}${VOICE_SEPARATOR}${voice}`;
}

async function voicesOf(slug: string, backend: TtsBackend, logger: Logger): Promise<VoiceInfo[]> {
  try {
    // Voices are metadata: the contract has engines answer them before load().
    return (await backend.voices()).slice(0, MAX_VOICES_PER_MODEL);
  } catch (error) {
    logger.warn({ model: slug, err: error }, 'wyoming: the voices of a TTS model could not be listed; it is left out of info');
    return [];
  }
}

/** The data of an `info` event for the models this server serves. */
export async function buildWyomingInfo(catalog: ModelCatalog, logger: Logger, options: WyomingInfoOptions): Promise<Record<string, unknown>> {
  const models = catalog.list();
  const asrModels = models
    .filter((model) => model.backend.modality === 'asr')
    .map((model) => {
      const backend = model.backend as AsrBackend;
      return {
        name: model.slug,
        attribution: attribution(model.entry),
        installed: true,
        description: model.entry.description ?? model.slug,
        version: model.entry.revision ?? null,
        languages: languageList(model.entry.languages ?? backend.capabilities.languages),
      };
    });
  const ttsModels = models.filter((model) => model.backend.modality === 'tts');
  const voiceLists = await Promise.all(ttsModels.map((model) => voicesOf(model.slug, model.backend as TtsBackend, logger)));
  const voices = ttsModels.flatMap((model, index) => {
    const backend = model.backend as TtsBackend;
    const modelLanguages = languageList(model.entry.languages ?? backend.capabilities.languages);
    return voiceLists[index]!.map((voice) => ({
      name: wyomingVoiceName(model.slug, voice.id),
      attribution: attribution(model.entry),
      installed: true,
      description: `${voice.name ?? voice.id} (${model.slug})`,
      version: model.entry.revision ?? null,
      languages: voice.language ? [voice.language] : modelLanguages,
      speakers: null,
    }));
  });
  const program = (description: string) => ({
    name: 'talkies',
    attribution: TALKIES,
    installed: true,
    description,
    version: SERVER_VERSION,
  });
  return {
    asr:
      options.transcription && asrModels.length > 0
        ? [{ ...program('talkies speech-to-text'), models: asrModels, supports_transcript_streaming: options.transcriptStreaming }]
        : [],
    tts: voices.length > 0 ? [{ ...program('talkies text-to-speech'), voices, supports_synthesize_streaming: true }] : [],
    handle: [],
    intent: [],
    wake: [],
    mic: [],
    snd: [],
  };
}

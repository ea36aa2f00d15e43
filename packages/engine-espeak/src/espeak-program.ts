/**
 * Everything that runs espeak-ng. The backend imports this file only when it is first
 * used, so that discovering the engine at boot spawns nothing and loads no audio code.
 */
import { changeTempo, parseWav, type PcmAudio } from '@talkies/audio';
import { SpeechError } from '@talkies/core';
import { espeakMissingError } from './espeak-errors.js';
import { runEspeak } from './run-espeak.js';
import { parseVoiceTable, VoiceCatalog } from './voice-catalog.js';

/** espeak-ng's own default rate, in words per minute, for speed 1. */
const NORMAL_WORDS_PER_MINUTE = 175;
/** espeak-ng ignores rates below 80 (it speaks at 80). */
const MINIMUM_WORDS_PER_MINUTE = 80;
/** Above 450 espeak-ng speeds up with libsonic; it stays proportional well past 4x. */
const MAXIMUM_WORDS_PER_MINUTE = 800;
/** espeak-ng speaks about 15 characters a second at 175 wpm: 22050 Hz, 2 bytes a sample. */
const BYTES_PER_CHARACTER = (22050 * 2) / 15;

/** How to reach a speed: the rate espeak-ng is asked for, and a tempo change for the rest. */
export function speedPlan(speed: number): { wordsPerMinute: number; tempo: number } {
  const wanted = NORMAL_WORDS_PER_MINUTE * speed;
  const wordsPerMinute = Math.round(Math.min(MAXIMUM_WORDS_PER_MINUTE, Math.max(MINIMUM_WORDS_PER_MINUTE, wanted)));
  const tempo = wanted / wordsPerMinute;
  return { wordsPerMinute, tempo: Math.abs(tempo - 1) < 0.01 ? 1 : tempo };
}

export class EspeakProgram {
  #catalog?: Promise<VoiceCatalog>;

  /** `espeak-ng --version`'s first line; rejects with MODEL_UNAVAILABLE when it does not run. */
  async version(): Promise<string> {
    let output: Buffer;
    try {
      output = await runEspeak(['--version']);
    } catch (error) {
      // Installed but broken (a wrong TALKIES_ESPEAK_NG, missing data) needs the same fix.
      throw SpeechError.is(error) && error.code === 'MODEL_UNAVAILABLE' ? error : espeakMissingError(error);
    }
    return output.toString('utf8').split('\n')[0].trim();
  }

  /** The voice catalog, read once from `--voices` and `--voices=variant`. */
  catalog(): Promise<VoiceCatalog> {
    this.#catalog ??= Promise.all([runEspeak(['--voices']), runEspeak(['--voices=variant'])]).then(
      ([voices, variants]) => new VoiceCatalog(parseVoiceTable(voices.toString('utf8')), parseVoiceTable(variants.toString('utf8'))),
    );
    this.#catalog.catch(() => {
      this.#catalog = undefined;
    });
    return this.#catalog;
  }

  /**
   * Speaks `text` with a resolved voice (`-v` argument). The text goes through stdin, so
   * it has no length or quoting limits.
   */
  async speak(text: string, voice: string, speed: number, signal: AbortSignal): Promise<PcmAudio> {
    const { wordsPerMinute, tempo } = speedPlan(speed);
    const wav = await runEspeak(['-b', '1', '--stdin', '--stdout', '-v', voice, '-s', String(wordsPerMinute)], {
      input: text,
      signal,
      expectedBytes: Math.ceil((text.length * BYTES_PER_CHARACTER * NORMAL_WORDS_PER_MINUTE) / wordsPerMinute) + 4096,
    });
    const { samples, sampleRate } = parseWav(wav);
    const audio = { samples, sampleRate };
    if (tempo === 1 || samples.length === 0) return audio;
    return changeTempo(audio, tempo, { signal });
  }
}

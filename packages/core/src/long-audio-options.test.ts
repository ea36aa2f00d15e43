import { describe, expect, it } from 'vitest';
import { DEFAULT_LONG_AUDIO_OPTIONS, parseLongAudioEnvironment } from './long-audio-options.js';
import { SpeechError } from './speech-error.js';

describe('parseLongAudioEnvironment', () => {
  it('has the Python talkies defaults', () => {
    expect(parseLongAudioEnvironment({})).toEqual({ thresholdSeconds: 30, maxSpeechSeconds: 28, threshold: 0.5, minSilenceMs: 500, speechPadMs: 200 });
    expect(DEFAULT_LONG_AUDIO_OPTIONS).toEqual(parseLongAudioEnvironment({ TALKIES_VAD_THRESHOLD: '  ' }));
  });

  it('reads every TALKIES_VAD_* variable', () => {
    expect(
      parseLongAudioEnvironment({
        TALKIES_VAD_CHUNK_THRESHOLD: '1m',
        TALKIES_VAD_MAX_SPEECH: '20.5',
        TALKIES_VAD_THRESHOLD: '0.35',
        TALKIES_VAD_MIN_SILENCE_MS: '300',
        TALKIES_VAD_SPEECH_PAD_MS: '0',
      }),
    ).toEqual({ thresholdSeconds: 60, maxSpeechSeconds: 20.5, threshold: 0.35, minSilenceMs: 300, speechPadMs: 0 });
  });

  it('names every invalid variable in one CONFIG_INVALID error', () => {
    let failure: unknown;
    try {
      parseLongAudioEnvironment({
        TALKIES_VAD_CHUNK_THRESHOLD: 'soon',
        TALKIES_VAD_MAX_SPEECH: '0',
        TALKIES_VAD_THRESHOLD: '1.5',
        TALKIES_VAD_MIN_SILENCE_MS: '-1',
        TALKIES_VAD_SPEECH_PAD_MS: 'lots',
      });
    } catch (error) {
      failure = error;
    }
    expect(SpeechError.is(failure) && failure.code).toBe('CONFIG_INVALID');
    const message = (failure as Error).message;
    for (const name of ['TALKIES_VAD_CHUNK_THRESHOLD', 'TALKIES_VAD_MAX_SPEECH', 'TALKIES_VAD_THRESHOLD', 'TALKIES_VAD_MIN_SILENCE_MS', 'TALKIES_VAD_SPEECH_PAD_MS']) {
      expect(message).toContain(name);
    }
    expect(message).toContain(`TALKIES_VAD_THRESHOLD='1.5' must be a probability above 0 and at most 1`);
  });
});

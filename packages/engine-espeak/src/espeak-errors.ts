import { SpeechError } from '@talkies/core';

export function espeakMissingError(cause?: unknown): SpeechError {
  return new SpeechError('MODEL_UNAVAILABLE', 'espeak-ng is not installed; run `apt-get install espeak-ng` (or ./scripts/up) or set TALKIES_ESPEAK_NG', {
    executor: 'espeak',
    cause,
  });
}

export function abortedError(): SpeechError {
  return new SpeechError('ABORTED', 'speech synthesis was stopped because the request was aborted', { executor: 'espeak' });
}

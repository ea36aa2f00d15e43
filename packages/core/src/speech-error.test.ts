import { describe, expect, it } from 'vitest';
import { SPEECH_ERROR_STATUS, SpeechError, type SpeechErrorCode } from './speech-error.js';

describe('SpeechError', () => {
  it('carries code, message, executor, model, param and cause', () => {
    const cause = new Error('disk on fire');
    const error = new SpeechError('MODEL_LOAD_FAILED', 'could not load', {
      executor: 'whisper',
      model: 'whisper-tiny',
      param: 'model',
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SpeechError');
    expect(error.message).toBe('could not load');
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.executor).toBe('whisper');
    expect(error.model).toBe('whisper-tiny');
    expect(error.param).toBe('model');
    expect(error.cause).toBe(cause);
    expect(error.status).toBe(503);
    expect(error.stack).toContain('could not load');
  });

  it('leaves cause unset when none is given', () => {
    const error = new SpeechError('INTERNAL', 'oops');
    expect('cause' in error).toBe(false);
    expect(error.executor).toBeUndefined();
    expect(error.model).toBeUndefined();
    expect(error.param).toBeUndefined();
  });

  it.each<[SpeechErrorCode, number]>([
    ['INVALID_REQUEST', 400],
    ['VALIDATION_FAILED', 422],
    ['MODEL_NOT_FOUND', 404],
    ['MODEL_NOT_LOADED', 404],
    ['NOT_FOUND', 404],
    ['UNSUPPORTED_CAPABILITY', 400],
    ['EXECUTOR_NOT_FOUND', 500],
    ['ENGINE_VERSION_MISMATCH', 500],
    ['AUDIO_DECODE_FAILED', 400],
    ['AUDIO_ENCODE_FAILED', 500],
    ['PAYLOAD_TOO_LARGE', 413],
    ['UNAUTHORIZED', 401],
    ['MODEL_UNAVAILABLE', 503],
    ['MODEL_LOAD_FAILED', 503],
    ['SHUTTING_DOWN', 503],
    ['ABORTED', 499],
    ['CONFIG_INVALID', 500],
    ['INFERENCE_FAILED', 500],
    ['INTERNAL', 500],
  ])('maps %s to HTTP %i', (code, status) => {
    expect(SPEECH_ERROR_STATUS[code]).toBe(status);
    expect(new SpeechError(code, 'x').status).toBe(status);
  });

  it('has a status for every code and nothing else', () => {
    for (const [code, status] of Object.entries(SPEECH_ERROR_STATUS)) {
      expect(code).toMatch(/^[A-Z_]+$/);
      expect(Number.isInteger(status)).toBe(true);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
  });

  it('lets the caller override the status', () => {
    expect(new SpeechError('INVALID_REQUEST', 'slow down', { status: 429 }).status).toBe(429);
  });

  describe('SpeechError.is', () => {
    it('accepts a SpeechError', () => {
      expect(SpeechError.is(new SpeechError('INTERNAL', 'x'))).toBe(true);
    });

    it('accepts an error from another copy of core (same Symbol.for brand)', () => {
      // What a second copy of @talkies/core would build: a different class, the same brand.
      const brand: unique symbol = Symbol.for('talkies.speech-error') as never;
      class OtherCopySpeechError extends Error {
        readonly [brand] = true;
        readonly code = 'MODEL_NOT_FOUND';
        readonly status = 404;
      }
      const foreign = new OtherCopySpeechError('unknown model');
      expect(foreign instanceof SpeechError).toBe(false);
      expect(SpeechError.is(foreign)).toBe(true);
      expect(SpeechError.is({ [Symbol.for('talkies.speech-error')]: true, code: 'INTERNAL' })).toBe(true);
    });

    it('rejects plain errors, look-alikes and non-objects', () => {
      expect(SpeechError.is(new Error('plain'))).toBe(false);
      expect(SpeechError.is({ code: 'INTERNAL', status: 500, message: 'x' })).toBe(false);
      expect(SpeechError.is({ [Symbol('talkies.speech-error')]: true })).toBe(false);
      expect(SpeechError.is({ [Symbol.for('talkies.speech-error')]: 'yes' })).toBe(false);
      expect(SpeechError.is(null)).toBe(false);
      expect(SpeechError.is(undefined)).toBe(false);
      expect(SpeechError.is('SpeechError')).toBe(false);
      expect(SpeechError.is(42)).toBe(false);
    });
  });
});

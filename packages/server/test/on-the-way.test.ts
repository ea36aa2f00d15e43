/**
 * onTheWay(): a request counts as on its way to a batching model from its lease until its
 * first piece reaches the model (or it ends), which is what the model's request batcher
 * waits for (core's `expected`).
 */
import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import type { AsrBackend, TranscribeRequest, TranscriptionResult } from '@talkies/core';
import { onTheWay, type CatalogModel } from '../src/model-catalog.js';

function fakeBackend(withBatch: boolean): AsrBackend & { calls: string[] } {
  const calls: string[] = [];
  const result = (request: TranscribeRequest): TranscriptionResult => ({ text: `${request.audio.length}`, language: 'en', segments: [], words: [] });
  return {
    calls,
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: { wordTimestamps: false, segmentTimestamps: true, streaming: false, translation: false, languages: 'any', longForm: false },
    load: async () => {
      calls.push('load');
    },
    dispose: async () => {},
    transcribe: async (request) => {
      calls.push('transcribe');
      return result(request);
    },
    ...(withBatch
      ? {
          transcribeBatch: (requests: readonly TranscribeRequest[]) => {
            calls.push(`batch×${requests.length}`);
            return requests.map(async (request) => result(request));
          },
        }
      : {}),
  };
}

const request = (samples: number): TranscribeRequest => ({ audio: new Float32Array(samples), sampleRate: 16000, task: 'transcribe', timestamps: false, signal: new AbortController().signal });
const model = () => ({ onTheWay: { count: 0 } }) as unknown as CatalogModel;

describe('onTheWay', () => {
  it('counts a request until its first piece reaches the model, once, whatever else it calls', async () => {
    const catalogModel = model();
    const backend = fakeBackend(true);
    const first = onTheWay(catalogModel, backend);
    const second = onTheWay(catalogModel, backend);
    expect(catalogModel.onTheWay.count).toBe(2);
    await first.backend.load();
    expect(first.backend.capabilities.segmentTimestamps).toBe(true);
    expect(catalogModel.onTheWay.count).toBe(2);
    expect(await first.backend.transcribe(request(3))).toMatchObject({ text: '3' });
    expect(catalogModel.onTheWay.count).toBe(1);
    await first.backend.transcribe(request(4));
    first.done();
    expect(catalogModel.onTheWay.count).toBe(1);
    const results = await Promise.all(second.backend.transcribeBatch!([request(5), request(6)]));
    expect(results.map((result) => result.text)).toEqual(['5', '6']);
    expect(catalogModel.onTheWay.count).toBe(0);
    expect(backend.calls).toEqual(['load', 'transcribe', 'transcribe', 'batch×2']);
  });

  it('stops counting a request that ends without a piece (silence, a failure) when it says done, once', () => {
    const catalogModel = model();
    const { done } = onTheWay(catalogModel, fakeBackend(false));
    done();
    done();
    expect(catalogModel.onTheWay.count).toBe(0);
  });

  it('stops counting when the request opens a streaming session on the engine, and offers openStream only where the backend has it', async () => {
    const catalogModel = model();
    const opened: unknown[] = [];
    const backend: AsrBackend = { ...fakeBackend(true), openStream: async (options) => (opened.push(options), {}) as never };
    const { backend: seen, done } = onTheWay(catalogModel, backend);
    expect(catalogModel.onTheWay.count).toBe(1);
    const options = { sampleRate: 16000, signal: new AbortController().signal };
    await seen.openStream!(options);
    expect(opened).toEqual([options]);
    expect(catalogModel.onTheWay.count).toBe(0);
    await seen.openStream!(options);
    done();
    expect(catalogModel.onTheWay.count).toBe(0);
    expect(onTheWay(model(), fakeBackend(true)).backend.openStream).toBeUndefined();
  });

  it('offers no transcribeBatch where the backend has none', () => {
    expect(onTheWay(model(), fakeBackend(false)).backend.transcribeBatch).toBeUndefined();
    expect(typeof onTheWay(model(), fakeBackend(true)).backend.transcribeBatch).toBe('function');
  });
});

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { modelWorkerReady } from './model-worker.js';
import { SpeechError } from './speech-error.js';

class FakeWorker extends EventEmitter {
  terminated = false;
  async terminate(): Promise<number> {
    this.terminated = true;
    return 1;
  }
}

async function failure(worker: FakeWorker, emit: () => void): Promise<SpeechError> {
  const waiting = modelWorkerReady(worker, 'm');
  emit();
  const error = await waiting.catch((caught: unknown) => caught);
  expect(SpeechError.is(error)).toBe(true);
  return error as SpeechError;
}

describe('modelWorkerReady', () => {
  it('returns the ready message and leaves no listener behind', async () => {
    const worker = new FakeWorker();
    const waiting = modelWorkerReady<{ type: 'ready'; outputs: string[] }>(worker, 'm');
    worker.emit('message', { type: 'ready', outputs: ['audio'] });
    expect(await waiting).toEqual({ type: 'ready', outputs: ['audio'] });
    expect(worker.listenerCount('message') + worker.listenerCount('error') + worker.listenerCount('exit')).toBe(0);
    expect(worker.terminated).toBe(false);
  });

  it('turns a failure, an error, an exit or a stray message into MODEL_LOAD_FAILED and ends the worker', async () => {
    for (const [emit, text] of [
      [(worker: FakeWorker) => worker.emit('message', { type: 'failed', message: 'bad graph' }), 'bad graph'],
      [(worker: FakeWorker) => worker.emit('error', new Error('out of memory')), 'out of memory'],
      [(worker: FakeWorker) => worker.emit('exit', 3), 'exited with code 3'],
      [(worker: FakeWorker) => worker.emit('message', { type: 'result' }), "unexpected 'result'"],
    ] as const) {
      const worker = new FakeWorker();
      const error = await failure(worker, () => emit(worker));
      expect(error.code).toBe('MODEL_LOAD_FAILED');
      expect(error.message).toContain(`model 'm' could not be opened by onnxruntime: `);
      expect(error.message).toContain(text);
      expect(worker.terminated).toBe(true);
    }
  });
});

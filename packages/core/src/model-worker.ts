/**
 * Engines run inference in a worker thread so the event loop stays free. Such a worker
 * opens its model first and answers `{ type: 'ready', … }`, or `{ type: 'failed',
 * message }`. This waits for that first answer and turns every way of not getting there
 * (an error, an early exit, an unexpected message) into one MODEL_LOAD_FAILED error,
 * terminating the worker. Core takes the worker from the engine and never imports
 * `node:worker_threads` itself.
 */
import { SpeechError } from './speech-error.js';

/** The parts of a `Worker` that the wait uses. */
export interface ModelWorkerHandle {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Worker's listener signature
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
  terminate(): Promise<number>;
}

/** The worker's first message: its ready answer (returned), or why it failed (thrown). */
export function modelWorkerReady<Ready extends { type: 'ready' }>(worker: ModelWorkerHandle, modelId: string): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      void worker.terminate();
      reject(new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}' could not be opened by onnxruntime: ${message}`, { model: modelId }));
    };
    const onMessage = (reply: { type: string; message?: string }) => {
      cleanup();
      if (reply.type === 'ready') resolve(reply as Ready);
      else fail(reply.type === 'failed' ? String(reply.message) : `unexpected '${reply.type}' from the worker`);
    };
    const onError = (error: Error) => {
      cleanup();
      fail(error.message);
    };
    const onExit = (code: number) => {
      cleanup();
      fail(`the worker exited with code ${code}`);
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

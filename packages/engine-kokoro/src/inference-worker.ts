/**
 * The worker thread that owns one onnxruntime-node session.
 *
 * onnxruntime-node runs a session on the calling thread: a Kokoro call of half a second
 * would freeze the whole server (other requests, health checks, the socket of the stream
 * being served). Here it freezes only this worker. Runs are taken one at a time in
 * arrival order, so concurrent requests interleave sentence by sentence; a run that has
 * not started yet can be cancelled, and terminating the worker stops one that has.
 *
 * This file imports nothing from the package at run time (type imports only), so that
 * Node can run it straight from the TypeScript source in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InferenceSession, Tensor as TensorType } from 'onnxruntime-node';

export interface WorkerSetup {
  modelPath: string;
  sessionOptions: InferenceSession.SessionOptions;
}

export interface TensorInput {
  type: 'int64' | 'int32' | 'float32';
  data: BigInt64Array | Int32Array | Float32Array;
  dims: number[];
}

export type WorkerRequest =
  | { type: 'run'; id: number; feeds: Record<string, TensorInput>; output: string }
  | { type: 'cancel'; id: number }
  | { type: 'close' };

export interface InputDescription {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

export type WorkerReply =
  | { type: 'ready'; inputs: InputDescription[]; outputs: string[] }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; samples: Float32Array; milliseconds: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'closed' };

const port = parentPort!;
const setup = workerData as WorkerSetup;

function send(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

try {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(setup.modelPath, setup.sessionOptions);
  const inputs: InputDescription[] = session.inputMetadata.map((metadata) => ({
    name: metadata.name,
    type: metadata.isTensor ? metadata.type : 'non-tensor',
    shape: metadata.isTensor ? [...metadata.shape] : [],
  }));
  const queue: Array<Extract<WorkerRequest, { type: 'run' }>> = [];
  let busy = false;
  let closing = false;

  const drain = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const job = queue.shift()!;
      const started = performance.now();
      try {
        const feeds: Record<string, TensorType> = {};
        for (const [name, input] of Object.entries(job.feeds)) feeds[name] = new ort.Tensor(input.type, input.data, input.dims);
        const results = await session.run(feeds, [job.output]);
        const output = results[job.output];
        if (!output || output.type !== 'float32') throw new Error(`output '${job.output}' is ${output?.type ?? 'missing'}, expected float32`);
        // A copy we own, so its buffer can be handed over without copying again.
        const samples = new Float32Array(output.data as Float32Array);
        send({ type: 'result', id: job.id, samples, milliseconds: performance.now() - started }, [samples.buffer]);
      } catch (error) {
        send({ type: 'error', id: job.id, message: (error as Error)?.message ?? String(error) });
      }
    }
    busy = false;
    if (closing) await close();
  };

  const close = async () => {
    await session.release();
    send({ type: 'closed' });
    port.close();
  };

  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'run') {
      queue.push(request);
      void drain();
    } else if (request.type === 'cancel') {
      const index = queue.findIndex((job) => job.id === request.id);
      if (index >= 0) queue.splice(index, 1);
    } else if (request.type === 'close') {
      closing = true;
      queue.length = 0;
      if (!busy) void close();
    }
  });
  send({ type: 'ready', inputs, outputs: [...session.outputNames] });
} catch (error) {
  send({ type: 'failed', message: (error as Error)?.message ?? String(error) });
}

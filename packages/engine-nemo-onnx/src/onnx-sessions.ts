/**
 * onnxruntime session plumbing shared by the NeMo families. Imported only from the
 * runtime modules that `load()` imports, never from the engine's entry point.
 */
import type * as OnnxRuntime from 'onnxruntime-node';
import { defaultInferenceThreads } from '@talkies/core';

export type Ort = typeof OnnxRuntime;
export type Tensor = OnnxRuntime.Tensor;
export type Session = OnnxRuntime.InferenceSession;

export interface SessionSettings {
  /** onnxruntime intra-op threads; default: core's {@link defaultInferenceThreads}. */
  threads?: number;
  executionProvider: 'cpu' | 'cuda';
}

export async function loadOrt(): Promise<Ort> {
  // Imported here, not at the top: the engine's entry point must stay light.
  return (await import('onnxruntime-node')) as unknown as Ort;
}

/** Creates the sessions in order; when one fails, those already created are released. */
export async function createSessions(ort: Ort, paths: readonly string[], settings: SessionSettings): Promise<Session[]> {
  const options: OnnxRuntime.InferenceSession.SessionOptions = {
    executionProviders: [settings.executionProvider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    intraOpNumThreads: settings.threads ?? defaultInferenceThreads(),
  };
  const sessions: Session[] = [];
  try {
    // A path (not bytes): onnxruntime then finds `<graph>.onnx.data` external weights beside it.
    for (const path of paths) sessions.push(await ort.InferenceSession.create(path, options));
  } catch (error) {
    await Promise.allSettled(sessions.map((session) => session.release()));
    throw error;
  }
  return sessions;
}

/** The declared shape of an input, symbolic dimensions replaced from `fill` (name → size) or by `fallback`. */
export function inputShape(session: Session, name: string, fill: Record<string, number> = {}, fallback?: readonly number[]): number[] {
  const metadata = session.inputMetadata.find((item) => item.name === name);
  if (!metadata || !metadata.isTensor || metadata.shape.length === 0) {
    if (fallback) return [...fallback];
    throw new Error(`the graph has no input '${name}' with a known shape (inputs: ${session.inputNames.join(', ')})`);
  }
  return metadata.shape.map((dimension, index) => {
    if (typeof dimension === 'number' && dimension >= 0) return dimension;
    const key = String(dimension);
    if (key in fill) return fill[key]!;
    if (fallback?.[index] !== undefined) return fallback[index]!;
    throw new Error(`input '${name}' has a symbolic dimension '${key}' (shape ${JSON.stringify(metadata.shape)})`);
  });
}

export function requireNames(session: Session, what: string, inputs: readonly string[], outputs: readonly string[]): void {
  const missingInputs = inputs.filter((name) => !session.inputNames.includes(name));
  const missingOutputs = outputs.filter((name) => !session.outputNames.includes(name));
  if (missingInputs.length > 0 || missingOutputs.length > 0) {
    throw new Error(
      `${what} lacks ${[...missingInputs.map((name) => `input '${name}'`), ...missingOutputs.map((name) => `output '${name}'`)].join(', ')} ` +
        `(it has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}); is this an onnx-asr export?`,
    );
  }
}

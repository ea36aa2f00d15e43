/** `engineOptions` of a Qwen3-TTS entry, the entry fields the engine owns, and the request's sampling fields. */
import { z } from 'zod';
import { SpeechError } from '@talkies/core';

const relativePath = z
  .string()
  .refine((path) => !path.startsWith('/') && !path.split(/[\\/]/).includes('..'), 'must be a path inside the model directory');

export const qwen3OptionsSchema = z
  .object({
    /** The folder of the model directory that holds the .onnx graphs (default: the model directory itself). */
    onnxDir: relativePath.optional(),
    /** onnxruntime intra-op threads (default: one per physical core, core's `defaultInferenceThreads`). */
    threads: z.number().int().min(1).max(1024).optional(),
    /** onnxruntime execution providers in order of preference (default `["cpu"]`; `{ "name": "cuda", "deviceId": 0 }` on a GPU). */
    executionProviders: z
      .array(z.union([z.string().min(1), z.object({ name: z.string().min(1), deviceId: z.number().int().min(0).optional() }).strict()]))
      .min(1)
      .optional(),
    /** Fetch missing files from the Hugging Face hub on load (default true). */
    download: z.boolean().optional(),
    /** Built-in reference voices of a base model (default: `voices/` in the model directory). */
    voicesDir: z.string().min(1).optional(),
    /** Custom voices (default: `$TALKIES_DATA_DIR/custom-voices`). */
    customVoicesDir: z.string().min(1).optional(),
    /** Whether `instructions` reach the model (default: yes, except on a 0.6B CustomVoice checkpoint, as upstream). */
    instructions: z.boolean().optional(),
    /** Streaming: frames before the first chunk (default 4, 320 ms of audio) and per later chunk (default 8). */
    firstChunkFrames: z.number().int().min(1).max(256).optional(),
    chunkFrames: z.number().int().min(1).max(256).optional(),
    /** Codec frames decoded again before each chunk (default 25) and the cross-fade at each seam (default 20 ms). */
    leftContextFrames: z.number().int().min(0).max(256).optional(),
    crossfadeMs: z.number().min(0).max(200).optional(),
  })
  .strict();

export type Qwen3Options = z.output<typeof qwen3OptionsSchema>;

export const QWEN3_MODES = ['base', 'custom_voice', 'voice_design'] as const;

/** The models.json fields this engine reads beside core's (`qwen3_mode`). */
export const qwen3EntrySchema = z.object({
  qwen3_mode: z.enum(QWEN3_MODES, { error: `qwen3_mode must be one of ${QWEN3_MODES.join(', ')}` }),
});

/** The seed's sampling fields, with its ranges; `seed` makes a sampled request repeatable. */
export const samplingFieldsSchema = z.object({
  temperature: z.number({ error: 'temperature must be a number between 0.0 and 2.0' }).min(0, 'temperature must be between 0.0 and 2.0').max(2, 'temperature must be between 0.0 and 2.0').optional(),
  top_k: z.number({ error: 'top_k must be an integer between 1 and 1000' }).int('top_k must be an integer between 1 and 1000').min(1, 'top_k must be between 1 and 1000').max(1000, 'top_k must be between 1 and 1000').optional(),
  top_p: z.number({ error: 'top_p must be a number between 0.0 and 1.0' }).min(0, 'top_p must be between 0.0 and 1.0').max(1, 'top_p must be between 0.0 and 1.0').optional(),
  repetition_penalty: z.number({ error: 'repetition_penalty must be a number between 0.5 and 2.0' }).min(0.5, 'repetition_penalty must be between 0.5 and 2.0').max(2, 'repetition_penalty must be between 0.5 and 2.0').optional(),
  max_new_tokens: z.number({ error: 'max_new_tokens must be an integer between 1 and 2048' }).int('max_new_tokens must be an integer between 1 and 2048').min(1, 'max_new_tokens must be between 1 and 2048').max(2048, 'max_new_tokens must be between 1 and 2048').optional(),
  do_sample: z.boolean({ error: 'do_sample must be true or false' }).optional(),
  seed: z.number({ error: 'seed must be an integer between 0 and 4294967295' }).int('seed must be an integer between 0 and 4294967295').min(0, 'seed must be between 0 and 4294967295').max(4294967295, 'seed must be between 0 and 4294967295').optional(),
});

export type SamplingFields = z.output<typeof samplingFieldsSchema>;

/** The sampling fields of a request's extra fields; 422 naming the field and its range. */
export function parseSamplingFields(extra: Readonly<Record<string, unknown>> | undefined): SamplingFields {
  const parsed = samplingFieldsSchema.safeParse(extra ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? 'request');
  throw new SpeechError('VALIDATION_FAILED', `${issue.message} (got ${JSON.stringify((extra ?? {})[field])})`, { param: field });
}

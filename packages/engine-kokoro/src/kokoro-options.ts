/** `engineOptions` of a Kokoro entry in models.json. */
import { z } from 'zod';
import { ONNX_COMMUNITY_DTYPES } from './model-layout.js';

const relativePath = z
  .string()
  .min(1)
  .refine((path) => !path.startsWith('/') && !path.split(/[\\/]/).includes('..'), 'must be a path inside the model directory');

export const kokoroOptionsSchema = z
  .object({
    /**
     * Which snapshot layout the model directory has. Defaults to `onnx-community` for the
     * `kokoro` executor and `nvidia` for `kokoro_nvidia`.
     */
    layout: z.enum(['onnx-community', 'nvidia']).optional(),
    /** The .onnx file to run, relative to the model directory; overrides `dtype`. */
    model: relativePath.optional(),
    /** onnx-community precision: picks `onnx/model<suffix>.onnx` (default fp32). */
    dtype: z.enum(Object.keys(ONNX_COMMUNITY_DTYPES) as [keyof typeof ONNX_COMMUNITY_DTYPES, ...Array<keyof typeof ONNX_COMMUNITY_DTYPES>]).optional(),
    /** onnxruntime intra-op threads (default: one per physical core, core's `defaultInferenceThreads`). */
    threads: z.number().int().min(1).max(1024).optional(),
    /** onnxruntime execution providers in order of preference (default `["cpu"]`). */
    executionProviders: z.array(z.string().min(1)).min(1).optional(),
    /** Tensor names, for an export whose names the engine does not recognise. */
    inputNames: z
      .object({ tokens: z.string().min(1).optional(), style: z.string().min(1).optional(), speed: z.string().min(1).optional() })
      .strict()
      .optional(),
    outputName: z.string().min(1).optional(),
    /** Fetch missing files from the Hugging Face hub (`HF_ENDPOINT`, `HF_TOKEN`) on load (default true). */
    download: z.boolean().optional(),
  })
  .strict();

export type KokoroOptions = z.output<typeof kokoroOptionsSchema>;

import { z } from 'zod';

/** `engineOptions` of a `parakeet_cpp` models.json entry. */
export const parakeetOptionsSchema = z
  .object({
    /**
     * Path of libparakeet for this model. Default: `TALKIES_PARAKEET_LIB`, else
     * `lib/libparakeet.so` beside the package, else the system loader path.
     */
    library: z.string().min(1).optional(),
    /** Which head decodes: the model's default, the CTC head, or the transducer (TDT/RNN-T). */
    decoder: z.enum(['default', 'ctc', 'tdt']).default('default'),
    /**
     * Compute threads of each of the library's CPU backends (`parakeet_capi_set_concurrency`);
     * 0 lets the library divide its default thread budget between them.
     */
    threads: z.number().int().min(0).max(256).default(0),
    /**
     * Whether the model is a cache-aware streaming one (live sessions). Default: guessed
     * from the GGUF file name (`streaming`, `realtime`, `eou`), then confirmed by the
     * library on the first session.
     */
    streaming: z.boolean().optional(),
    /** Fetch the GGUF from the hub on first load when it is not on disk (default true). */
    download: z.boolean().default(true),
  })
  .strict();

export type ParakeetOptions = z.output<typeof parakeetOptionsSchema>;

/** The C API's `decoder` argument. */
export const DECODER_CODE = { default: 0, ctc: 1, tdt: 2 } as const;

/**
 * Prompt assembly for the three Qwen3-TTS modes, as the reference implementation builds
 * its talker input (QwenLM/Qwen3-TTS, `Qwen3TTSForConditionalGeneration.generate`, text
 * streamed one token per frame):
 *
 * - the text is wrapped in the chat template `<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n`;
 *   its first three ids are the role rows, the last five the template tail, the rest the text;
 * - instructions (base, 1.7B custom voice, voice design) come first as their own user turn
 *   `<|im_start|>user\n{instructions}<|im_end|>\n`;
 * - the codec track opens with `think, think_bos, <language>, think_eos` (or `nothink,
 *   think_bos, think_eos` without a language), then the speaker (a preset speaker's codec
 *   token, or a cloned voice's x-vector), then `pad, bos`; the text track runs beside it with
 *   `tts_pad` and ends that stretch with `tts_bos`;
 * - the first text token rides with `codec_bos`; the other text tokens and `tts_eos` are
 *   added to the talker's input one per generated frame, then `tts_pad` for ever;
 * - voice cloning with a transcript (ICL) puts the transcript before the text and the
 *   reference's codec frames on the codec track after `codec_bos`, overlapping the text.
 *
 * The result is a plan of ids, not embeddings, so the tests can hold it against
 * hand-written expectations and the runtime can embed it however it likes.
 */
import type { BpeTokenizer } from './bpe-tokenizer.js';
import type { TalkerSpecials } from './model-config.js';

export type Qwen3Mode = 'base' | 'custom_voice' | 'voice_design';

/** One position of the talker's input: the sum of whichever embeddings are set. */
export interface PromptRow {
  /** A text token (through the text embedding and projection). */
  text?: number;
  /** A codec-track token of the talker's own embedding. */
  codec?: number;
  /** The cloned voice's x-vector. */
  speaker?: true;
  /** Frame `n` of the reference audio's codes (all code groups summed). */
  referenceFrame?: number;
}

export interface PromptPlan {
  rows: PromptRow[];
  /** Text ids added to the input of generated frames 1, 2, …; `tts_pad` after them. */
  trailing: number[];
}

export interface PromptInput {
  mode: Qwen3Mode;
  text: string;
  /** Already checked against what the checkpoint honours. */
  instructions?: string;
  /** Codec language token, or undefined for automatic. */
  languageToken?: number;
  /** custom_voice: the preset speaker's codec token. */
  speakerToken?: number;
  /** base: an x-vector row is present. */
  xVector?: boolean;
  /** base with a transcript: in-context learning over the reference's codes. */
  reference?: { transcript: string; frames: number };
}

export function assistantTemplate(text: string): string {
  return `<|im_start|>assistant\n${text}<|im_end|>\n<|im_start|>assistant\n`;
}

export function instructionTemplate(instructions: string): string {
  return `<|im_start|>user\n${instructions}<|im_end|>\n`;
}

export function referenceTemplate(transcript: string): string {
  return `<|im_start|>assistant\n${transcript}<|im_end|>\n`;
}

export function buildPrompt(tokenizer: BpeTokenizer, specials: TalkerSpecials, input: PromptInput): PromptPlan {
  const rows: PromptRow[] = [];
  if (input.instructions !== undefined && input.instructions.trim() !== '') {
    for (const id of tokenizer.encode(instructionTemplate(input.instructions))) rows.push({ text: id });
  }
  const ids = tokenizer.encode(assistantTemplate(input.text));
  const role = ids.slice(0, 3);
  const textIds = ids.slice(3, -5);
  for (const id of role) rows.push({ text: id });

  const codec: PromptRow[] =
    input.languageToken === undefined
      ? [{ codec: specials.codecNothink }, { codec: specials.codecThinkBos }, { codec: specials.codecThinkEos }]
      : [{ codec: specials.codecThink }, { codec: specials.codecThinkBos }, { codec: input.languageToken }, { codec: specials.codecThinkEos }];
  if (input.speakerToken !== undefined) codec.push({ codec: input.speakerToken });
  if (input.xVector) codec.push({ speaker: true });
  codec.push({ codec: specials.codecPad }, { codec: specials.codecBos });
  // Every codec row but the last (codec_bos) rides beside tts_pad, the last of them beside tts_bos.
  for (let index = 0; index < codec.length - 1; index++) {
    rows.push({ ...codec[index], text: index < codec.length - 2 ? specials.ttsPad : specials.ttsBos });
  }

  if (input.reference) {
    const transcriptIds = tokenizer.encode(referenceTemplate(input.reference.transcript)).slice(3, -2);
    const textTrack = [...transcriptIds, ...textIds, specials.ttsEos];
    const codecTrack: PromptRow[] = [{ codec: specials.codecBos }];
    for (let frame = 0; frame < input.reference.frames; frame++) codecTrack.push({ referenceFrame: frame });
    for (let index = 0; index < codecTrack.length; index++) {
      rows.push({ ...codecTrack[index], text: index < textTrack.length ? textTrack[index] : specials.ttsPad });
    }
    return { rows, trailing: textTrack.slice(codecTrack.length) };
  }

  if (textIds.length === 0) {
    rows.push({ text: specials.ttsEos, codec: specials.codecBos });
    return { rows, trailing: [] };
  }
  rows.push({ text: textIds[0], codec: specials.codecBos });
  return { rows, trailing: [...textIds.slice(1), specials.ttsEos] };
}

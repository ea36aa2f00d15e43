/**
 * Where a Kokoro snapshot keeps its files. Two layouts exist, and one engine serves both:
 *
 * - `onnx-community` (onnx-community/Kokoro-82M-v1.0-ONNX, what kokoro.js loads):
 *   `onnx/model{,_fp16,_quantized,…}.onnx` with inputs `input_ids`, `style`, `speed` and
 *   output `waveform`; `tokenizer.json` holding the phoneme vocabulary; one
 *   `voices/<name>.bin` per voice (raw little-endian float32, 510 × 256).
 * - `nvidia` (nvidia/kokoro-82M-onnx-opt): one `kokoro-82m-v1.0.onnx` at the top with
 *   inputs `tokens`, `style`, `speed`; `tokens.txt` ("<phoneme> <id>" per line); all
 *   voices packed in `voices.bin` (float32, voices × 510 × 256) named by `voices.txt`
 *   ("<index>=<name>" per line).
 *
 * The tensor names are read from the model itself when it loads (model-session.ts);
 * this file only finds files and reads the vocabulary and voice tables.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SpeechError } from '@talkies/core';

export type LayoutName = 'onnx-community' | 'nvidia';

/** Rows × columns of a voice table: one 256-wide style vector per input length. */
export const STYLE_WIDTH = 256;
export const STYLE_ROWS = 510;
const TABLE_BYTES = STYLE_ROWS * STYLE_WIDTH * 4;

/** onnx/model<suffix>.onnx per precision, as transformers.js names them. */
export const ONNX_COMMUNITY_DTYPES = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  q8f16: '_q8f16',
  uint8f16: '_uint8f16',
} as const;
export type OnnxCommunityDtype = keyof typeof ONNX_COMMUNITY_DTYPES;

export const NVIDIA_MODEL_FILE = 'kokoro-82m-v1.0.onnx';

export interface LayoutOptions {
  layout: LayoutName;
  /** A model file relative to the model directory; overrides `dtype`. */
  model?: string;
  dtype?: OnnxCommunityDtype;
}

export interface ModelFiles {
  readonly layout: LayoutName;
  /** Absolute path of the .onnx file to run. */
  modelPath(): Promise<string>;
  /** Phoneme → id. */
  vocabulary(): Promise<Map<string, number>>;
  /** Every voice name in the snapshot, in its order (ja and zh included). */
  voiceNames(): Promise<string[]>;
  /** The voice's style table, STYLE_ROWS × STYLE_WIDTH floats. */
  voiceTable(name: string): Promise<Float32Array>;
}

function missing(modelId: string, what: string, directory: string, repo: string, cause?: unknown): SpeechError {
  return new SpeechError(
    'MODEL_UNAVAILABLE',
    `model '${modelId}' is missing ${what} under ${directory}; \`talkies pull ${modelId}\` (or loading the model) downloads it from ${repo} (or generate test models with \`pnpm fixtures\`)`,
    { model: modelId, cause },
  );
}

function malformed(modelId: string, message: string): SpeechError {
  return new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}': ${message}`, { model: modelId });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Float32 view of little-endian bytes, copied so the view is aligned and owns its memory. */
function floats(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Parses `tokens.txt`: "<phoneme> <id>" per line; the space phoneme's line is "  16". */
export function parseTokensText(text: string): Map<string, number> {
  const vocabulary = new Map<string, number>();
  for (const line of text.split('\n')) {
    const trimmedEnd = line.replace(/\r$/, '');
    if (trimmedEnd === '') continue;
    const separator = trimmedEnd.lastIndexOf(' ');
    const id = Number(trimmedEnd.slice(separator + 1));
    const phoneme = trimmedEnd.slice(0, separator);
    if (separator < 0 || !Number.isInteger(id) || [...phoneme].length !== 1) {
      throw new Error(`malformed line ${JSON.stringify(line)}`);
    }
    vocabulary.set(phoneme, id);
  }
  return vocabulary;
}

/** Parses `voices.txt`: "<index>=<name>" per line. */
export function parseVoiceIndex(text: string): Map<string, number> {
  const index = new Map<string, number>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const [position, name] = trimmed.split('=', 2).map((part) => part.trim());
    const row = Number(position);
    if (!name || !Number.isInteger(row) || row < 0) throw new Error(`malformed line ${JSON.stringify(line)}`);
    index.set(name, row);
  }
  return index;
}

class OnnxCommunityFiles implements ModelFiles {
  readonly layout = 'onnx-community' as const;
  constructor(
    private readonly modelId: string,
    private readonly directory: string,
    private readonly repo: string,
    private readonly options: LayoutOptions,
  ) {}

  async modelPath(): Promise<string> {
    const relative = this.options.model ?? `onnx/model${ONNX_COMMUNITY_DTYPES[this.options.dtype ?? 'fp32']}.onnx`;
    const path = join(this.directory, relative);
    if (!(await isFile(path))) throw missing(this.modelId, relative, this.directory, this.repo);
    return path;
  }

  async vocabulary(): Promise<Map<string, number>> {
    const path = join(this.directory, 'tokenizer.json');
    let json: { model?: { vocab?: Record<string, number> } };
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw missing(this.modelId, 'tokenizer.json', this.directory, this.repo, cause);
      throw malformed(this.modelId, `tokenizer.json cannot be read: ${(cause as Error).message}`);
    }
    const vocab = json.model?.vocab;
    if (!vocab || typeof vocab !== 'object') throw malformed(this.modelId, 'tokenizer.json has no model.vocab');
    return new Map(Object.entries(vocab));
  }

  async voiceNames(): Promise<string[]> {
    const directory = join(this.directory, 'voices');
    let entries: string[];
    try {
      entries = await readdir(directory);
    } catch (cause) {
      throw missing(this.modelId, 'voices/', this.directory, this.repo, cause);
    }
    return entries
      .filter((entry) => entry.endsWith('.bin'))
      .map((entry) => entry.slice(0, -'.bin'.length))
      .sort();
  }

  async voiceTable(name: string): Promise<Float32Array> {
    const path = join(this.directory, 'voices', `${name}.bin`);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw missing(this.modelId, `voices/${name}.bin`, this.directory, this.repo, cause);
    }
    if (bytes.byteLength !== TABLE_BYTES) {
      throw malformed(this.modelId, `voices/${name}.bin has ${bytes.byteLength} bytes; a Kokoro voice table has ${TABLE_BYTES} (510 × 256 float32)`);
    }
    return floats(bytes);
  }
}

class NvidiaFiles implements ModelFiles {
  readonly layout = 'nvidia' as const;
  #index?: Promise<Map<string, number>>;

  constructor(
    private readonly modelId: string,
    private readonly directory: string,
    private readonly repo: string,
    private readonly options: LayoutOptions,
  ) {}

  async modelPath(): Promise<string> {
    if (this.options.model) {
      const path = join(this.directory, this.options.model);
      if (!(await isFile(path))) throw missing(this.modelId, this.options.model, this.directory, this.repo);
      return path;
    }
    const preferred = join(this.directory, NVIDIA_MODEL_FILE);
    if (await isFile(preferred)) return preferred;
    // Another file name for the same export: take the only .onnx file there is.
    const candidates = (await readdir(this.directory).catch(() => [] as string[])).filter((entry) => entry.endsWith('.onnx'));
    if (candidates.length === 1) return join(this.directory, candidates[0]!);
    throw missing(this.modelId, NVIDIA_MODEL_FILE, this.directory, this.repo);
  }

  async vocabulary(): Promise<Map<string, number>> {
    return this.#parseFile('tokens.txt', parseTokensText);
  }

  /** Read a text file of the snapshot and parse it; missing and malformed files say which. */
  async #parseFile<T>(name: string, parse: (text: string) => T): Promise<T> {
    let text: string;
    try {
      text = await readFile(join(this.directory, name), 'utf8');
    } catch (cause) {
      throw missing(this.modelId, name, this.directory, this.repo, cause);
    }
    try {
      return parse(text);
    } catch (cause) {
      throw malformed(this.modelId, `${name}: ${(cause as Error).message}`);
    }
  }

  #voiceIndex(): Promise<Map<string, number>> {
    this.#index ??= this.#parseFile('voices.txt', parseVoiceIndex);
    this.#index.catch(() => {
      this.#index = undefined;
    });
    return this.#index;
  }

  async voiceNames(): Promise<string[]> {
    return [...(await this.#voiceIndex()).keys()];
  }

  async voiceTable(name: string): Promise<Float32Array> {
    const index = await this.#voiceIndex();
    const row = index.get(name);
    if (row === undefined) throw malformed(this.modelId, `voice '${name}' is not in voices.txt`);
    const path = join(this.directory, 'voices.bin');
    let file;
    try {
      file = await open(path, 'r');
    } catch (cause) {
      throw missing(this.modelId, 'voices.bin', this.directory, this.repo, cause);
    }
    try {
      const size = (await file.stat()).size;
      const voices = Math.max(...index.values()) + 1;
      if (size !== voices * TABLE_BYTES) {
        throw malformed(this.modelId, `voices.bin has ${size} bytes; voices.txt names ${voices} voices of ${TABLE_BYTES} bytes (510 × 256 float32) each`);
      }
      const bytes = Buffer.alloc(TABLE_BYTES);
      await file.read(bytes, 0, TABLE_BYTES, row * TABLE_BYTES);
      return floats(bytes);
    } finally {
      await file.close();
    }
  }
}

export function modelFiles(modelId: string, directory: string, repo: string, options: LayoutOptions): ModelFiles {
  return options.layout === 'nvidia'
    ? new NvidiaFiles(modelId, directory, repo, options)
    : new OnnxCommunityFiles(modelId, directory, repo, options);
}

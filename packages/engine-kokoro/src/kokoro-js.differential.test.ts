/**
 * Differential test against kokoro-js (Apache-2.0, the reference JavaScript front end),
 * on the same generated model files, fully offline: for the same text and voice, the
 * phoneme ids must be identical and the waveform within 1e-5.
 *
 * kokoro-js runs in a child process (src/__fixtures__/kokoro-js-reference.mjs): it brings
 * its own onnxruntime-node, whose native library cannot share a process with ours. It
 * reads voice tables from its own package; ours come from the model directory, where the
 * fixture writer copied the same files.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeOnnxCommunityModel } from './testing/index.js';
import { fadeJoins } from './join-audio.js';
import { KokoroBackend } from './kokoro-backend.js';
import { KOKORO_LANGUAGES } from './languages.js';
import { modelFiles } from './model-layout.js';
import { boundaryIds, MAX_PHONEME_TOKENS } from './phoneme-tokens.js';
import { tokenPieces, type TokenPiece } from './synthesis-pipeline.js';

let kokoroJsAvailable = true;
try {
  createRequire(import.meta.url).resolve('kokoro-js');
} catch {
  kokoroJsAvailable = false;
}

interface Case {
  name: string;
  text: string;
  voice: string;
  speed: number;
}

const CASES: Case[] = [
  { name: 'plain sentence', text: 'Hello world, this is Kokoro speaking.', voice: 'af_heart', speed: 1 },
  { name: 'exclamation', text: 'The quick brown fox jumps over the lazy dog!', voice: 'af_bella', speed: 1 },
  { name: 'contractions, titles, brackets', text: "Isn't it lovely? Yeah, Dr. Smith said so (twice).", voice: 'af_heart', speed: 1 },
  { name: 'British voice', text: 'Colour and flavour are spelt differently in Britain.', voice: 'bf_emma', speed: 1 },
  { name: 'quotes and initials', text: '"Well," said Mr. Jones, "that is the U.S. army\'s problem, not ours."', voice: 'bm_george', speed: 1 },
  {
    name: 'numbers',
    text: 'In 1990 the 2 shops sold 1,250 widgets at $3.50 each and £12 for the rest, 12.75 percent more than in 2005 or the 1800s; open 9:05 to 10:00, pages 3-4, $1.5 million.',
    voice: 'af_heart',
    speed: 1,
  },
  { name: 'another speed', text: 'Speed changes the length, not the phonemes.', voice: 'af_bella', speed: 1.35 },
  {
    name: 'longer than the token limit',
    text: [
      'Kokoro is an open-weight text to speech model with eighty-two million parameters.',
      'Despite its lightweight architecture, it delivers quality comparable to larger models while being significantly faster and more cost-efficient.',
      'With Apache licensed weights, it can be deployed anywhere from production environments to personal projects.',
      'It was trained on permissive, non-copyrighted audio data and on public domain audio.',
      'The model speaks American and British English, and several other languages through other voices.',
      'Long texts are cut at sentence boundaries first, then at clause boundaries when a single sentence is still too long.',
      'Each piece is synthesised on its own and the pieces are joined with short fades so that no click is heard.',
    ].join(' '),
    voice: 'af_heart',
    speed: 1,
  },
];

const VOICES = ['af_heart', 'af_bella', 'bf_emma', 'bm_george'];
const TOLERANCE = 1e-5;

interface ReferenceChunk {
  ids: number[];
  phonemes: string;
  audio: Float32Array;
}

let directory: string;
let backend: KokoroBackend;
let vocabulary: Map<string, number>;
let reference: ReferenceChunk[][];

async function runReference(modelDir: string): Promise<ReferenceChunk[][]> {
  const script = fileURLToPath(new URL('./__fixtures__/kokoro-js-reference.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(JSON.stringify({ modelDir, cases: CASES }));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`kokoro-js reference run failed (${code}): ${stderr}`);
  const { results } = JSON.parse(stdout) as { results: Array<Array<{ ids: number[]; phonemes: string; audio: string }>> };
  return results.map((chunks) =>
    chunks.map((chunk) => {
      const bytes = Buffer.from(chunk.audio, 'base64');
      const audio = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(audio.buffer).set(bytes);
      return { ids: chunk.ids, phonemes: chunk.phonemes, audio };
    }),
  );
}

beforeAll(async () => {
  if (!kokoroJsAvailable) return;
  directory = await mkdtemp(join(tmpdir(), 'kokoro-differential-'));
  await writeOnnxCommunityModel(directory, { voices: VOICES });
  backend = new KokoroBackend({
    modelId: 'kokoro-differential',
    entry: { repo: 'onnx-community/Kokoro-82M-v1.0-ONNX', executor: 'kokoro' },
    options: {},
    fields: {},
    paths: { dataDir: directory, modelDir: directory },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal,
    now: () => performance.now(),
  });
  [reference] = await Promise.all([runReference(directory), backend.load()]);
  vocabulary = await modelFiles('kokoro-differential', directory, 'unused', { layout: 'onnx-community' }).vocabulary();
}, 120_000);

afterAll(async () => {
  await backend?.dispose();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** Our pieces (ids without pads) and audio blocks for a case. */
async function ours({ text, voice, speed }: Case): Promise<{ pieces: TokenPiece[]; blocks: Float32Array[] }> {
  const language = KOKORO_LANGUAGES[voice[0] as 'a' | 'b'];
  const pieces: TokenPiece[] = [];
  const source = { text, language, runtime: { vocabulary, boundaries: boundaryIds(vocabulary) }, signal: new AbortController().signal };
  for await (const piece of tokenPieces(source)) pieces.push(piece);
  const blocks: Float32Array[] = [];
  for await (const block of backend.synthesizeStream({ text, voice, speed, signal: new AbortController().signal })) blocks.push(block.samples);
  return { pieces, blocks };
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let index = 0; index < a.length; index++) max = Math.max(max, Math.abs(a[index]! - b[index]!));
  return max;
}

describe.skipIf(!kokoroJsAvailable)('the same phoneme ids and waveform as kokoro-js, offline, on the same model files', () => {
  CASES.forEach((testCase, caseIndex) => {
    it(`${testCase.name} (${testCase.voice}, speed ${testCase.speed})`, async () => {
      const theirs = reference[caseIndex]!;
      const mine = await ours(testCase);
      expect(mine.pieces.map((piece) => piece.phonemes)).toEqual(theirs.map((chunk) => chunk.phonemes));
      expect(mine.pieces.map((piece) => [0, ...piece.ids, 0])).toEqual(theirs.map((chunk) => chunk.ids));
      expect(mine.blocks.length).toBe(theirs.length);
      theirs.forEach((chunk, index) => {
        // Our blocks carry the join fades; give kokoro-js's chunks the same before comparing.
        const expected = fadeJoins(chunk.audio.slice(), 24000, index > 0, index < theirs.length - 1);
        expect(mine.blocks[index]!.length, `block ${index} length`).toBe(expected.length);
        expect(maxDifference(mine.blocks[index]!, expected), `block ${index}`).toBeLessThanOrEqual(TOLERANCE);
      });
      if (testCase.name === 'longer than the token limit') {
        expect(mine.pieces.reduce((sum, piece) => sum + piece.ids.length, 0)).toBeGreaterThan(MAX_PHONEME_TOKENS);
        expect(theirs.length).toBeGreaterThan(1);
      }
    });
  });
});

#!/usr/bin/env node
// Runs kokoro-js (the reference implementation) on a local model directory, offline,
// for the differential test. It runs in a process of its own because kokoro-js brings
// its own onnxruntime-node, whose native library cannot share a process with ours.
//
// stdin:  {"modelDir": "...", "cases": [{"text": "...", "voice": "af_heart", "speed": 1}]}
// stdout: {"results": [[{"ids": [0, ...], "audio": "<base64 float32le>"}, ...], ...]}
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const kokoroDirectory = dirname(dirname(require.resolve('kokoro-js')));
// The ES module build, the one kokoro-js imports (require.resolve would give the CommonJS one).
const transformersCjs = createRequire(join(kokoroDirectory, 'package.json')).resolve('@huggingface/transformers');
const { env } = await import(pathToFileURL(join(dirname(transformersCjs), 'transformers.node.mjs')).href);
env.allowRemoteModels = false;
env.allowLocalModels = true;
globalThis.fetch = () => {
  throw new Error('network access in the kokoro-js reference run');
};
const { KokoroTTS, TextSplitterStream } = await import('kokoro-js');

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { modelDir, cases } = JSON.parse(input);
const tts = await KokoroTTS.from_pretrained(modelDir, { dtype: 'fp32', device: 'cpu' });
const results = [];
for (const { text, voice, speed } of cases) {
  // stream() given a plain string never closes its splitter: hand it a closed one.
  const splitter = new TextSplitterStream();
  splitter.push(text);
  splitter.close();
  const chunks = [];
  for await (const chunk of tts.stream(splitter, { voice, speed })) {
    const ids = Array.from(tts.tokenizer(chunk.phonemes, { truncation: true }).input_ids.data, Number);
    const audio = chunk.audio.audio;
    chunks.push({ ids, phonemes: chunk.phonemes, audio: Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength).toString('base64') });
  }
  results.push(chunks);
}
process.stdout.write(JSON.stringify({ results }));

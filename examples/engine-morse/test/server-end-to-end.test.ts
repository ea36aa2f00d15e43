/**
 * The engine behind a real talkies server, driven by the official openai client: the
 * server finds the package, parses its entry field and engineOptions, lists its voices
 * before loading it, and the WAV it returns lasts exactly as long as Morse timing says,
 * with tone where the code has tone, at the pitch of the voice asked for.
 *
 * The expected timing is worked out here from the ITU rules, independently of the
 * engine's own planner.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '@talkies/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_SLUG, writeFixtures } from '../src/testing/index.js';

// ITU Morse for the characters these tests send; '.' one unit, '-' three.
const ITU: Record<string, string> = { s: '...', o: '---', '7': '--...', '3': '...--', e: '.', t: '-' };

/** Tone on/off per unit: inside a character 1 unit apart, characters 3, words 7. */
function expectedUnits(text: string): boolean[] {
  const units: boolean[] = [];
  text.split(' ').forEach((word, wordIndex) => {
    if (wordIndex > 0) units.push(...Array(7).fill(false));
    [...word].forEach((character, characterIndex) => {
      if (characterIndex > 0) units.push(false, false, false);
      [...ITU[character]!].forEach((symbol, symbolIndex) => {
        if (symbolIndex > 0) units.push(false);
        units.push(...Array(symbol === '.' ? 1 : 3).fill(true));
      });
    });
  });
  return units;
}

/** Mono 16-bit PCM out of a WAV file, whatever chunks come before `data`. */
function readWav(bytes: Buffer): { sampleRate: number; samples: Float32Array } {
  expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
  let offset = 12;
  let sampleRate = 0;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === 'fmt ') {
      expect(bytes.readUInt16LE(offset + 10), 'channels').toBe(1);
      sampleRate = bytes.readUInt32LE(offset + 12);
      expect(bytes.readUInt16LE(offset + 22), 'bits per sample').toBe(16);
    }
    if (id === 'data') {
      // A streamed WAV may not know its length in advance: the data runs to the end.
      const data = bytes.subarray(offset + 8, Math.min(bytes.length, offset + 8 + size));
      const samples = new Float32Array(data.length >> 1);
      for (let index = 0; index < samples.length; index++) samples[index] = data.readInt16LE(index * 2) / 32768;
      return { sampleRate, samples };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error('no data chunk in the WAV');
}

/** Whether each unit-long slot of the audio has tone (energy in its middle half). */
function measuredUnits(samples: Float32Array, samplesPerUnit: number): boolean[] {
  return Array.from({ length: Math.round(samples.length / samplesPerUnit) }, (_, unit) => {
    let energy = 0;
    const from = Math.floor(unit * samplesPerUnit + samplesPerUnit / 4);
    const to = Math.floor(unit * samplesPerUnit + (3 * samplesPerUnit) / 4);
    for (let index = from; index < to; index++) energy += samples[index]! ** 2;
    return energy / (to - from) > 0.01;
  });
}

/** The tone's pitch: rising zero crossings per second of tone, inside the tone-on units. */
function pitch(samples: Float32Array, sampleRate: number, samplesPerUnit: number, units: readonly boolean[]): number {
  const on = (index: number) => units[Math.floor(index / samplesPerUnit)] === true;
  let crossings = 0;
  let onSamples = 0;
  for (let index = 1; index < samples.length; index++) {
    if (!on(index) || !on(index - 1)) continue;
    onSamples += 1;
    if (samples[index - 1]! < 0 && samples[index]! >= 0) crossings += 1;
  }
  return (crossings * sampleRate) / onSamples;
}

describe('the Morse engine behind the server, driven by the openai client', () => {
  let dataDir: string;
  let server: TestServer;
  let client: OpenAI;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'talkies-morse-server-'));
    const written = await writeFixtures(dataDir);
    server = await startTestServer(
      {
        [FIXTURE_SLUG]: {
          ...written[FIXTURE_SLUG],
          // Found through the package name (a third party's own tests resolve it by self-reference).
          package: '@talkies-example/engine-morse',
          words_per_minute: 15,
          engineOptions: { threads: 1 },
        },
      },
      { dataDir },
    );
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the voices without loading the model', async () => {
    const listing = (await (await fetch(`${server.url}/v1/audio/voices`)).json()) as { voices: Array<{ voice: string; model: string; default: boolean }> };
    expect(listing.voices.filter((voice) => voice.model === FIXTURE_SLUG)).toEqual([
      { voice: 'low', model: FIXTURE_SLUG, default: false, language: 'en', origin: 'builtin' },
      { voice: 'mid', model: FIXTURE_SLUG, default: true, language: 'en', origin: 'builtin' },
      { voice: 'high', model: FIXTURE_SLUG, default: false, language: 'en', origin: 'builtin' },
    ]);
    const loaded = (await (await fetch(`${server.url}/api/ps`)).json()) as { models: unknown[] };
    expect(loaded.models).toEqual([]);
  });

  for (const { voice, speed, hertz } of [
    { voice: 'high', speed: 1, hertz: 900 },
    { voice: 'low', speed: 2, hertz: 500 },
  ]) {
    it(`speaks "sos 73" in the ${voice} voice at speed ${speed}: Morse timing, tone pattern and pitch`, async () => {
      const response = await client.audio.speech.create({ model: FIXTURE_SLUG, voice, input: 'SOS 73', response_format: 'wav', speed });
      const { sampleRate, samples } = readWav(Buffer.from(await response.arrayBuffer()));
      const units = expectedUnits('sos 73');
      // words_per_minute from the entry, times the request's speed: a unit is 1.2 / wpm seconds.
      const unitSeconds = 1.2 / (15 * speed);
      expect(Math.abs(samples.length / sampleRate - units.length * unitSeconds)).toBeLessThan(0.005);
      const samplesPerUnit = unitSeconds * sampleRate;
      expect(measuredUnits(samples, samplesPerUnit)).toEqual(units);
      expect(Math.abs(pitch(samples, sampleRate, samplesPerUnit, units) - hertz)).toBeLessThan(hertz * 0.03);
    });
  }

  it('answers 400 for an unknown voice, listing the voices, and keeps serving', async () => {
    const error = await client.audio.speech.create({ model: FIXTURE_SLUG, voice: 'soprano', input: 'e' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/low, mid, high/);
    const response = await client.audio.speech.create({ model: FIXTURE_SLUG, voice: 'mid', input: 'e t', response_format: 'wav' });
    const { sampleRate, samples } = readWav(Buffer.from(await response.arrayBuffer()));
    expect(Math.abs(samples.length / sampleRate - expectedUnits('e t').length * 0.08)).toBeLessThan(0.005);
  });
});

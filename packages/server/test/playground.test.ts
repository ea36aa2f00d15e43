/**
 * The web playground in real Chromium (Debian's `chromium`, driven by playwright-core):
 * it asks for the token and keeps it in the tab, loads with no console errors, lists the
 * models and voices from the API, transcribes an uploaded file and a recording (Chromium's
 * fake microphone), and speaks, streaming, until the audio has played.
 *
 * Set TALKIES_SCREENSHOT_DIR to keep screenshots (docs/ holds the committed ones).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, makeTone, startTestServer, type TestServer } from './test-server.js';

const TOKEN = 'playground-test-token';

/** The bits of an HTMLAudioElement the test reads (the test files have no DOM types). */
interface MediaLike {
  readyState: number;
  duration: number;
  addEventListener(type: string, listener: () => void, options: { once: boolean }): void;
}

/** The Chromium to drive: TALKIES_CHROMIUM, else Debian's. */
function findChromium(): string | undefined {
  const candidates = [process.env.TALKIES_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];
  return candidates.find((candidate): candidate is string => !!candidate && existsSync(candidate));
}

const executablePath = findChromium();
if (!executablePath) {
  console.warn('playground test skipped: no Chromium found; install Debian\'s `chromium` (scripts/up does) or set TALKIES_CHROMIUM');
}

describe.skipIf(!executablePath)('the playground in Chromium', { timeout: 60_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let tonePath: string;
  const consoleErrors: string[] = [];
  const screenshots = process.env.TALKIES_SCREENSHOT_DIR;

  beforeAll(async () => {
    server = await startTestServer(
      { 'scripted-p': { repo: 'fixtures/p', ...SCRIPTED }, espeak: ESPEAK },
      { authToken: TOKEN },
    );
    tonePath = await makeTone(join(server.dataDir, 'meeting.wav'), 5, ['-ar', '16000']);
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
    if (screenshots) await mkdir(screenshots, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for the token, keeps it in the tab, and then loads with no console errors', async () => {
    await page.goto(`${server.url}/`);
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 15_000 }).toBe('This server needs a bearer token.');
    expect(await page.locator('#token-form').isVisible()).toBe(true);
    // The only errors so far are the browser's reports of the refused API calls.
    expect(consoleErrors.filter((text) => !/status of 401/.test(text))).toEqual([]);

    await page.fill('#token', TOKEN);
    await page.click('#token-form button');
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 15_000 }).toMatch(/^Connected: 1 speech-to-text and 1 text-to-speech model/);
    expect(await page.evaluate(() => sessionStorage.getItem('talkies.token'))).toBe(TOKEN);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // A reload in the same tab keeps the token: no 401, no console error at all.
    consoleErrors.length = 0;
    await page.reload();
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 15_000 }).toMatch(/^Connected/);
    expect(await page.locator('#asr-model option').allTextContents()).toEqual(['scripted-p']);
    expect(await page.locator('#tts-model option').allTextContents()).toEqual(['espeak']);
    const voices = await page.locator('#voice option').count();
    expect(voices).toBeGreaterThan(10);
    expect(await page.locator('#voice').inputValue()).toBe('en-us');
    expect(consoleErrors).toEqual([]);

    // Another tab starts without it.
    const other = await page.context().browser()!.newPage();
    await other.goto(`${server.url}/`);
    await expect.poll(() => other.locator('#connection').textContent(), { timeout: 15_000 }).toBe('This server needs a bearer token.');
    await other.close();
  });

  it('transcribes an uploaded file and shows the segments with their times', async () => {
    await page.setInputFiles('#audio-file', tonePath);
    await page.click('#transcribe');
    await expect.poll(() => page.locator('#transcribe-status').textContent(), { timeout: 30_000 }).toMatch(/^2 segment\(s\), 5\.0 s of audio/);
    // The scripted engine: one segment per 2 s, words from a fixed list.
    expect(await page.locator('#transcript').textContent()).toBe('the quick. quick brown.');
    const rows = await page.locator('#segments tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(rows).toEqual([
      ['00:00.00', '00:02.00', 'the quick.'],
      ['00:02.00', '00:04.00', 'quick brown.'],
    ]);
    if (screenshots) await page.screenshot({ path: join(screenshots, 'playground-transcription.png') });
    expect(consoleErrors).toEqual([]);
  });

  it('records from the microphone and transcribes the recording', async () => {
    await page.click('#record');
    await expect.poll(() => page.locator('#record-status').textContent(), { timeout: 15_000 }).toBe('Recording…');
    await page.waitForTimeout(2500);
    await page.click('#record');
    await expect.poll(() => page.locator('#record-status').textContent(), { timeout: 15_000 }).toMatch(/^Recorded \d+ KiB\.$/);
    await page.click('#transcribe');
    await expect.poll(() => page.locator('#transcribe-status').textContent(), { timeout: 30_000 }).toMatch(/^\d+ segment\(s\), \d+\.\d s of audio/);
    const status = (await page.locator('#transcribe-status').textContent())!;
    const seconds = Number(/, ([\d.]+) s of audio/.exec(status)![1]);
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(6);
    expect(consoleErrors).toEqual([]);
  });

  it('speaks the text, streamed, and plays it to the end', async () => {
    await page.fill('#text', 'The playground speaks. Each sentence is played as soon as it arrives.');
    await page.click('#speak');
    await expect.poll(() => page.locator('#speak-status').textContent(), { timeout: 30_000 }).toMatch(/^Played \d+\.\d s of audio/);
    const status = (await page.locator('#speak-status').textContent())!;
    const seconds = Number(/^Played ([\d.]+) s/.exec(status)![1]);
    expect(seconds).toBeGreaterThan(2);
    expect(seconds).toBeLessThan(15);
    // The replay player holds the same audio as a WAV file.
    const replay = await page.locator('#replay').evaluate(
      (audio: MediaLike) =>
        new Promise<number>((resolve) => {
          if (audio.readyState >= 1) resolve(audio.duration);
          else audio.addEventListener('loadedmetadata', () => resolve(audio.duration), { once: true });
        }),
    );
    expect(replay).toBeCloseTo(seconds, 1);
    if (screenshots) await page.screenshot({ path: join(screenshots, 'playground-speech.png') });
    expect(consoleErrors).toEqual([]);
  });
});

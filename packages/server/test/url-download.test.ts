import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { loadConfig } from '../src/config.js';
import { blockedAddressReason } from '../src/blocked-address.js';
import { safeBasename, UrlDownloader, type ResolveHost } from '../src/url-downloader.js';
import { SCRIPTED, makeTone, startTestServer, type TestServer, readJson } from './test-server.js';

/** A loopback origin for downloads that counts the requests it gets. */
class AudioOrigin {
  readonly hits = new Map<string, number>();
  server!: Server;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly audio: () => Buffer,
  ) {}

  get base(): string {
    return `http://${this.host}:${this.port}`;
  }

  count(prefix: string): number {
    let total = 0;
    for (const [path, hits] of this.hits) if (path.startsWith(prefix)) total += hits;
    return total;
  }

  get total(): number {
    return this.count('/');
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://origin');
      this.hits.set(url.pathname + url.search, (this.hits.get(url.pathname + url.search) ?? 0) + 1);
      const delay = Number(url.searchParams.get('delay') ?? 0);
      const reply = () => {
        const hop = /^\/hop\/(\d+)$/.exec(url.pathname);
        if (url.pathname.startsWith('/audio/')) {
          response.writeHead(200, { 'content-type': 'audio/wav' }).end(this.audio());
        } else if (hop) {
          const left = Number(hop[1]);
          response.writeHead(302, { location: left > 1 ? `/hop/${left - 1}` : '/audio/after-hops.wav' }).end();
        } else if (url.pathname === '/loop') {
          response.writeHead(302, { location: '/loop' }).end();
        } else if (url.pathname === '/redirect') {
          response.writeHead(307, { location: url.searchParams.get('to')! }).end();
        } else if (url.pathname === '/no-location') {
          response.writeHead(301).end();
        } else if (url.pathname === '/big-declared.wav') {
          response.writeHead(200, { 'content-length': 300_000 }).end(Buffer.alloc(300_000));
        } else if (url.pathname === '/big-chunked.wav') {
          response.writeHead(200, { 'transfer-encoding': 'chunked' });
          for (let index = 0; index < 10; index++) response.write(Buffer.alloc(30_001));
          response.end();
        } else if (url.pathname === '/silent') {
          response.writeHead(200, { 'content-length': 10 }); // and never a byte more
        } else if (url.pathname === '/empty.wav') {
          response.writeHead(200, { 'content-length': 0 }).end();
        } else {
          response.writeHead(404).end('no such thing');
        }
      };
      if (delay) setTimeout(reply, delay);
      else reply();
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let tone: Buffer;
let toneDirectory: string;
let origin: AudioOrigin;

beforeAll(async () => {
  toneDirectory = await mkdtemp(join(tmpdir(), 'talkies-tone-'));
  tone = await readFile(await makeTone(join(toneDirectory, 'tone.wav'), 5, ['-ar', '16000']));
  origin = await new AudioOrigin('127.0.0.1', () => tone).start();
});
afterAll(async () => {
  await origin?.stop();
  await rm(toneDirectory, { recursive: true, force: true });
});

function cacheName(url: string, basename: string): string {
  return `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${basename}`;
}

async function transcribe(server: TestServer, filePath: string): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.append('model', 'scripted-a');
  form.append('file_path', filePath);
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  return { status: response.status, body: await readJson(response) };
}

describe('file_path=<url> through the server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, { maxDownloadBytes: 200_000 });
  });
  afterAll(() => server?.stop());

  it('downloads once into files/downloads and serves the second request from the cache', async () => {
    const url = `${origin.base}/audio/tone.wav?take=1`;
    const first = await transcribe(server, url);
    expect(first).toEqual({ status: 200, body: { text: 'the quick. quick brown.' } });
    const second = await transcribe(server, url);
    expect(second).toEqual(first);
    expect(origin.count('/audio/tone.wav?take=1')).toBe(1);
    const cached = await readdir(join(server.dataDir, 'files', 'downloads'));
    expect(cached).toContain(cacheName(url, 'tone.wav'));
    expect(await readFile(join(server.dataDir, 'files', 'downloads', cacheName(url, 'tone.wav')))).toEqual(tone);
    const listed = await readJson(await fetch(`${server.url}/v1/files`));
    expect(listed.files.map((file: { path: string }) => file.path)).toContain(`downloads/${cacheName(url, 'tone.wav')}`);
  });

  it('downloads once for two concurrent requests', async () => {
    const url = `${origin.base}/audio/tone.wav?delay=300`;
    const [first, second] = await Promise.all([transcribe(server, url), transcribe(server, url)]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(origin.count('/audio/tone.wav?delay=300')).toBe(1);
  });

  it('follows up to 5 redirects (relative Location) and refuses the sixth', async () => {
    expect((await transcribe(server, `${origin.base}/hop/5`)).status).toBe(200);
    const six = await transcribe(server, `${origin.base}/hop/6`);
    expect(six.status).toBe(400);
    expect(six.body.error.message).toBe(`too many redirects (>5) starting at '${origin.base}/hop/6'`);
    const loop = await transcribe(server, `${origin.base}/loop`);
    expect(loop.status).toBe(400);
    expect(loop.body.error.message).toMatch(/^too many redirects \(>5\)/);
    expect(loop.body.detail).toBe(loop.body.error.message);
    const missing = await transcribe(server, `${origin.base}/no-location`);
    expect(missing.body.error.message).toBe(`download failed: HTTP 301 redirect without a Location header from '${origin.base}/no-location'`);
  });

  it('answers an HTTP error from the origin with 400 `download failed: HTTP <code>`', async () => {
    const response = await transcribe(server, `${origin.base}/missing.wav`);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'invalid_request',
      param: 'file_path',
      message: `download failed: HTTP 404 from '${origin.base}/missing.wav'`,
    });
    const empty = await transcribe(server, `${origin.base}/empty.wav`);
    expect(empty.body.error.message).toMatch(/^download failed: empty body/);
  });

  it('caps the size, declared or streamed, and removes the partial file', async () => {
    const declared = await transcribe(server, `${origin.base}/big-declared.wav`);
    expect(declared.status).toBe(400);
    expect(declared.body.error.message).toMatch(/^download too large \(300000 bytes > 200000\).*TALKIES_MAX_DOWNLOAD_BYTES/);
    const streamed = await transcribe(server, `${origin.base}/big-chunked.wav`);
    expect(streamed.status).toBe(400);
    expect(streamed.body.error.message).toMatch(/^download too large \(more than 200000 bytes\)/);
    const left = await readdir(join(server.dataDir, 'files', 'downloads'));
    expect(left.filter((name) => name.includes('big') || name.includes('.part'))).toEqual([]);
  });

  it('refuses other schemes, also behind a redirect', async () => {
    const ftp = await transcribe(server, 'ftp://example.invalid/a.wav');
    expect(ftp.status).toBe(400);
    expect(ftp.body.error.message).toMatch(/unsupported URL scheme 'ftp:'/);
    const hop = await transcribe(server, `${origin.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`);
    expect(hop.status).toBe(400);
    expect(hop.body.error.message).toMatch(/^unsupported URL scheme 'file:' \(redirect from/);
  });
});

describe('TALKIES_BLOCK_PRIVATE_DOWNLOADS=true through the server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, { blockPrivateDownloads: true });
  });
  afterAll(() => server?.stop());

  it('refuses loopback by literal, by name and in every IPv6 spelling, without a request reaching it', async () => {
    const before = origin.total;
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:${origin.port}/audio/a.wav`, /127\.0\.0\.1 is a loopback address/],
      [`http://0x7f.1:${origin.port}/audio/a.wav`, /127\.0\.0\.1 is a loopback address/],
      [`http://localhost:${origin.port}/audio/a.wav`, /'localhost' resolves to (127\.0\.0\.1|::1), a loopback address/],
      [`http://[::1]:${origin.port}/audio/a.wav`, /::1 is a loopback address/],
      [`http://[::ffff:127.0.0.1]:${origin.port}/audio/a.wav`, /is an IPv4-mapped loopback address/],
      [`http://10.1.2.3:${origin.port}/a.wav`, /10\.1\.2\.3 is a private address/],
      [`http://169.254.169.254/latest/meta-data/`, /169\.254\.169\.254 is a link-local address/],
    ];
    for (const [url, rule] of cases) {
      const response = await transcribe(server, url);
      expect(response.status, url).toBe(400);
      expect(response.body.error.message, url).toMatch(/^download refused: /);
      expect(response.body.error.message, url).toMatch(rule);
      expect(response.body.error.message, url).toMatch(/TALKIES_BLOCK_PRIVATE_DOWNLOADS=true/);
    }
    expect(origin.total).toBe(before);
  });
});

describe('a cached download is served only if its URL passes the policy in force now', () => {
  let open: TestServer;
  let blocking: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } });
    blocking = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, { blockPrivateDownloads: true });
  });
  afterAll(async () => {
    await open?.stop();
    await blocking?.stop();
  });

  it('an entry cached while blocking was off is refused once blocking is on, by literal and by name', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const url = `http://${host}:${origin.port}/audio/cached-then-blocked.wav?host=${host}`;
      expect((await transcribe(open, url)).status).toBe(200);
      const name = cacheName(url, 'cached-then-blocked.wav');
      // The same data folder, restarted with TALKIES_BLOCK_PRIVATE_DOWNLOADS=true.
      await mkdir(join(blocking.dataDir, 'files', 'downloads'), { recursive: true });
      await copyFile(join(open.dataDir, 'files', 'downloads', name), join(blocking.dataDir, 'files', 'downloads', name));
      const before = origin.total;
      const refused = await transcribe(blocking, url);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/^download refused: .*loopback address.*TALKIES_BLOCK_PRIVATE_DOWNLOADS=true/);
      expect(refused.body.text).toBeUndefined();
      expect(origin.total).toBe(before);
      // Still served where the policy allows it.
      expect((await transcribe(open, url)).status).toBe(200);
    }
  });

  it('a cached entry that is not audio (kept by an older version) is deleted instead of served', async () => {
    const url = `${origin.base}/audio/old-page.wav`;
    const path = join(open.dataDir, 'files', 'downloads', cacheName(url, 'old-page.wav'));
    await mkdir(join(open.dataDir, 'files', 'downloads'), { recursive: true });
    await writeFile(path, '<html>an internal page</html>');
    const response = await transcribe(open, url);
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/was deleted, it is not audio talkies can read/);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });
});

describe('the SSRF guard checks the address actually connected to, at every hop', () => {
  // 127.0.0.2 stands in for a public host: the guard allows it and nothing else of 127/8.
  const guard = (address: string) => (address === '127.0.0.2' ? undefined : blockedAddressReason(address));
  let allowed: AudioOrigin;
  let blocked: AudioOrigin;
  let directory: string;

  beforeAll(async () => {
    allowed = await new AudioOrigin('127.0.0.2', () => tone).start();
    // Same port on 127.0.0.1: a connection that slipped past the guard would land here.
    blocked = await new AudioOrigin('127.0.0.1', () => Buffer.from('secret')).start(allowed.port);
    directory = await mkdtemp(join(tmpdir(), 'talkies-downloads-'));
  });
  afterAll(async () => {
    await allowed?.stop();
    await blocked?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  const names: Record<string, string[]> = {
    'allowed.test': ['127.0.0.2'],
    'blocked.test': ['127.0.0.1'],
    'mixed.test': ['127.0.0.2', '127.0.0.1'],
  };
  const resolveHost: ResolveHost = async (hostname) => {
    const addresses = names[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: 4 }));
  };
  const downloader = (options: Partial<ConstructorParameters<typeof UrlDownloader>[0]> = {}) =>
    new UrlDownloader({ directory, maxBytes: 1_000_000, guard, resolveHost, ...options });
  const signal = () => new AbortController().signal;

  async function refusal(promise: Promise<unknown>): Promise<string> {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(SpeechError.is(error), String(error)).toBe(true);
    expect((error as SpeechError).status).toBe(400);
    return (error as SpeechError).message;
  }

  it('lets an allowed host through', async () => {
    const path = await downloader().fetch(`http://allowed.test:${allowed.port}/audio/ok.wav`, signal());
    expect(await readFile(path)).toEqual(tone);
  });

  it('refuses a redirect chain from an allowed URL to a blocked one, by name and by literal', async () => {
    for (const target of [`http://blocked.test:${blocked.port}/audio/x.wav`, `http://127.0.0.1:${blocked.port}/audio/x.wav`]) {
      const start = `http://allowed.test:${allowed.port}/redirect?to=${encodeURIComponent(target)}`;
      const message = await refusal(downloader().fetch(start, signal()));
      expect(message).toMatch(/^download refused: /);
      expect(message).toMatch(/127\.0\.0\.1.*a loopback address/);
    }
    expect(allowed.count('/redirect')).toBe(2);
    expect(blocked.total).toBe(0);
  });

  it('refuses a name when any of its addresses is blocked', async () => {
    const message = await refusal(downloader().fetch(`http://mixed.test:${allowed.port}/audio/m.wav`, signal()));
    expect(message).toMatch(/'mixed\.test' resolves to 127\.0\.0\.1, a loopback address/);
    expect(blocked.total).toBe(0);
  });

  it('resolves once per connection, so a rebinding name cannot swap the address after the check', async () => {
    let calls = 0;
    const rebinding: ResolveHost = async () => {
      calls += 1;
      return [{ address: calls === 1 ? '127.0.0.2' : '127.0.0.1', family: 4 }];
    };
    const path = await downloader({ resolveHost: rebinding }).fetch(`http://rebind.test:${allowed.port}/audio/r.wav`, signal());
    expect(await readFile(path)).toEqual(tone);
    expect(calls).toBe(1);
    expect(blocked.total).toBe(0);
  });

  it('names DNS failures, connect timeouts and read timeouts', async () => {
    expect(await refusal(downloader().fetch('http://nowhere.test/a.wav', signal()))).toMatch(
      /^download failed: cannot resolve 'nowhere\.test' \(ENOTFOUND\)/,
    );
    const hanging: ResolveHost = () => new Promise(() => undefined);
    expect(await refusal(downloader({ resolveHost: hanging, connectTimeoutMs: 100 }).fetch('http://hang.test/a.wav', signal()))).toMatch(
      /^download failed: connect timeout \(0\.1 s\) to 'http:\/\/hang\.test\/a\.wav'/,
    );
    expect(await refusal(downloader({ readTimeoutMs: 150 }).fetch(`http://allowed.test:${allowed.port}/silent`, signal()))).toMatch(
      /^download failed: read timeout \(no data for 0\.15 s\)/,
    );
    expect(await refusal(downloader({ readTimeoutMs: 150 }).fetch(`http://allowed.test:${allowed.port}/audio/slow.wav?delay=1000`, signal()))).toMatch(
      /read timeout/,
    );
    expect((await readdir(directory)).filter((name) => name.includes('.part'))).toEqual([]);
  });

  it('keeps a shared download going while one caller remains, and cancels it when the last one leaves', async () => {
    const shared = downloader();
    const url = `http://allowed.test:${allowed.port}/audio/shared.wav?delay=200`;
    const leaving = new AbortController();
    const first = shared.fetch(url, leaving.signal);
    const second = shared.fetch(url, signal());
    await sleep(50);
    leaving.abort(new SpeechError('ABORTED', 'client went away'));
    await expect(first).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await readFile(await second)).toEqual(tone);
    expect(allowed.count('/audio/shared.wav')).toBe(1);

    const alone = new AbortController();
    const cancelled = downloader().fetch(`http://allowed.test:${allowed.port}/audio/cancel.wav?delay=300`, alone.signal);
    await sleep(50);
    alone.abort(new SpeechError('ABORTED', 'client went away'));
    await expect(cancelled).rejects.toMatchObject({ code: 'ABORTED' });
    await sleep(400);
    expect((await readdir(directory)).filter((name) => name.includes('cancel'))).toEqual([]);
  });
});

describe('cache names', () => {
  it('follows the Python talkies: decoded, sanitised, trimmed, at most 96 characters, download.bin fallback', () => {
    expect(safeBasename('https://example.com/audio/My%20Call%20(1).mp3?sig=abc')).toBe('My_Call__1_.mp3');
    expect(safeBasename('https://example.com/')).toBe('download.bin');
    expect(safeBasename('https://example.com/..')).toBe('download.bin');
    expect(safeBasename('https://example.com/__.hidden-')).toBe('hidden');
    expect(safeBasename('https://example.com/%E2%82%AC.wav')).toBe('wav');
    expect(safeBasename('https://example.com/caf%C3%A9.wav')).toBe('caf_.wav');
    expect(safeBasename('https://example.com/bad%zz.wav')).toBe('bad_zz.wav');
    const long = safeBasename(`https://example.com/${'a'.repeat(200)}.flac`);
    expect(long).toHaveLength(96);
    expect(long.endsWith('.flac')).toBe(true);
    expect(safeBasename(`https://example.com/${'a'.repeat(200)}.${'x'.repeat(20)}`)).toBe('a'.repeat(96));
    const downloader = new UrlDownloader({ directory: '/cache', maxBytes: 1 });
    const url = 'https://example.com/a/b.wav?x=1';
    expect(downloader.cachePath(url)).toBe(`/cache/${createHash('sha256').update(url).digest('hex').slice(0, 16)}-b.wav`);
  });
});

describe('blocked addresses', () => {
  it('names loopback, private, link-local, CGNAT, multicast, reserved and their IPv6 forms', () => {
    const blocked: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '127.255.255.254': 'loopback',
      '10.0.0.1': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      '169.254.169.254': 'link-local',
      '100.64.0.1': 'carrier-grade NAT (shared address space)',
      '100.127.255.255': 'carrier-grade NAT (shared address space)',
      '0.0.0.0': 'unspecified ("this network")',
      '224.0.0.1': 'multicast',
      '239.255.255.250': 'multicast',
      '255.255.255.255': 'broadcast',
      '240.0.0.1': 'reserved',
      '192.0.2.1': 'reserved (documentation)',
      '198.18.0.1': 'reserved (benchmarking)',
      '::': 'unspecified',
      '::1': 'loopback',
      'fe80::1': 'link-local',
      'fe80::1%eth0': 'link-local',
      'fc00::1': 'private (unique local)',
      'fd12:3456::1': 'private (unique local)',
      'ff02::1': 'multicast',
      '::ffff:127.0.0.1': 'IPv4-mapped loopback',
      '::ffff:7f00:1': 'IPv4-mapped loopback',
      '::FFFF:10.0.0.1': 'IPv4-mapped private',
      '::ffff:169.254.1.1': 'IPv4-mapped link-local',
      '::127.0.0.1': 'IPv4-compatible loopback',
      '64:ff9b::a9fe:a9fe': 'NAT64 link-local',
      '2002:7f00:1::': '6to4 loopback',
      '2001:db8::1': 'reserved (documentation)',
      '2001::1': 'reserved (IETF protocol assignments, Teredo)',
      '100::1': 'reserved (discard-only)',
      '4000::1': 'reserved (not global unicast)',
      'example.com': 'not an IP address',
    };
    for (const [address, reason] of Object.entries(blocked)) expect(blockedAddressReason(address), address).toBe(reason);
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::']) {
      expect(blockedAddressReason(address), address).toBeUndefined();
    }
  });
});

describe('configuration', () => {
  it('reads TALKIES_MAX_DOWNLOAD_BYTES and TALKIES_BLOCK_PRIVATE_DOWNLOADS, listing every bad value together', () => {
    expect(loadConfig({})).toMatchObject({ maxDownloadBytes: 1_073_741_824, blockPrivateDownloads: false });
    for (const on of ['true', '1', 'yes', ' YES ', 'True']) expect(loadConfig({ TALKIES_BLOCK_PRIVATE_DOWNLOADS: on }).blockPrivateDownloads).toBe(true);
    for (const off of ['false', '0', 'no', '']) expect(loadConfig({ TALKIES_BLOCK_PRIVATE_DOWNLOADS: off }).blockPrivateDownloads).toBe(false);
    expect(loadConfig({ TALKIES_MAX_DOWNLOAD_BYTES: '5000' }).maxDownloadBytes).toBe(5000);
    expect(() =>
      loadConfig({
        TALKIES_BLOCK_PRIVATE_DOWNLOADS: 'on',
        TALKIES_MAX_DOWNLOAD_BYTES: '1 GiB',
        TALKIES_CORS_ORIGINS: 'app.example',
      }),
    ).toThrow(/TALKIES_MAX_DOWNLOAD_BYTES[\s\S]*TALKIES_BLOCK_PRIVATE_DOWNLOADS[\s\S]*'on' is not a flag[\s\S]*TALKIES_CORS_ORIGINS/);
  });
});

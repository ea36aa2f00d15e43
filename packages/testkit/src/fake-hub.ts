/**
 * A loopback stand-in for the Hugging Face hub, speaking the parts of its HTTP API that
 * @huggingface/hub uses to download: the tree listing, `resolve` URLs that redirect (302)
 * to a file server, Range requests, ETags, 404 with `X-Error-Code: EntryNotFound`, and a
 * bearer token check. It can drop a connection half-way through a file.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface FakeHubOptions {
  /** repo id → directory whose files the repo holds. */
  repos: Record<string, string>;
  /** Extra files per repo (path → bytes), e.g. other precision variants. */
  extraFiles?: Record<string, Record<string, Uint8Array>>;
  /** Required `Authorization: Bearer <token>`. */
  token?: string;
}

export interface FakeHub {
  url: string;
  /** Every request: method, path, Range header. */
  requests: Array<{ method: string; path: string; range?: string }>;
  /** Files (repo path) whose next N full-body responses are cut after half the bytes. */
  dropAfterHalf: Map<string, number>;
  /** Paths that answer 404 on resolve although listed. */
  hidden: Set<string>;
  close(): Promise<void>;
}

async function filesUnder(directory: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(directory, path).split('\\').join('/'), await readFile(path));
  }
  return files;
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const repos = new Map<string, Map<string, Uint8Array>>();
  for (const [repo, directory] of Object.entries(options.repos)) {
    const files = await filesUnder(directory);
    for (const [path, data] of Object.entries(options.extraFiles?.[repo] ?? {})) files.set(path, data);
    repos.set(repo, files);
  }
  const requests: FakeHub['requests'] = [];
  const dropAfterHalf = new Map<string, number>();
  const hidden = new Set<string>();

  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: request.method ?? 'GET', path, range: request.headers.range });
    if (options.token && request.headers.authorization !== `Bearer ${options.token}`) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Invalid credentials in Authorization header' }));
      return;
    }
    const tree = /^\/api\/models\/(.+?)\/tree\/([^/]+)$/.exec(path);
    if (tree) {
      const files = repos.get(tree[1]!);
      if (!files) return notFound(response, 'RepoNotFound');
      const directories = new Set<string>();
      const listing: object[] = [];
      for (const [file, data] of files) {
        const parts = file.split('/');
        for (let depth = 1; depth < parts.length; depth++) directories.add(parts.slice(0, depth).join('/'));
        listing.push({ type: 'file', path: file, size: data.length, oid: `oid-${file}` });
      }
      for (const directory of directories) listing.push({ type: 'directory', path: directory, size: 0, oid: `tree-${directory}` });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(listing));
      return;
    }
    const resolve = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve) {
      const [, repo, , file] = resolve;
      const data = repos.get(repo!)?.get(file!);
      if (!data || hidden.has(file!)) return notFound(response, 'EntryNotFound');
      // Like the hub: a redirect to the storage that serves the bytes.
      response.writeHead(302, { location: `/cdn/${repo}/${file}`, 'x-linked-size': String(data.length), 'x-linked-etag': `"etag-${file}"` }).end();
      return;
    }
    const cdn = /^\/cdn\/(.+?\/.+?)\/(.+)$/.exec(path);
    if (cdn) {
      const [, repo, file] = cdn;
      const data = repos.get(repo!)?.get(file!);
      if (!data) return notFound(response, 'EntryNotFound');
      const headers = { etag: `"etag-${file}"`, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
        if (start >= data.length) {
          response.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
          return;
        }
        const body = data.subarray(start, end + 1);
        response.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': String(body.length) });
        if (body.length > 1) return maybeDrop(file!, body, response);
        response.end(body);
        return;
      }
      response.writeHead(200, { ...headers, 'content-length': String(data.length) });
      maybeDrop(file!, data, response);
      return;
    }
    notFound(response, 'EntryNotFound');
  };

  function maybeDrop(file: string, body: Uint8Array, response: ServerResponse): void {
    const drops = dropAfterHalf.get(file) ?? 0;
    if (drops > 0 && body.length > 2) {
      dropAfterHalf.set(file, drops - 1);
      response.write(body.subarray(0, Math.floor(body.length / 2)), () => {
        // Cut the connection mid-body, as a flaky network does.
        setTimeout(() => response.socket?.destroy(), 5);
      });
      return;
    }
    response.end(body);
  }

  function notFound(response: ServerResponse, code: string): void {
    response.writeHead(404, { 'content-type': 'application/json', 'x-error-code': code }).end(JSON.stringify({ error: `${code}` }));
  }

  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    dropAfterHalf,
    hidden,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A Wyoming client for the tests, written from the protocol description (a JSON header
 * line; `data_length` bytes of JSON data; `payload_length` bytes of payload) and not from
 * the server's code: it imports nothing of the server's framing.
 */
import { connect, type Socket } from 'node:net';

export interface ReceivedEvent {
  type: string;
  /** The header's inline `data` merged with the data block. */
  data: Record<string, any>;
  payload: Buffer;
  /** Byte length of the header line, newline excluded. */
  headerBytes: number;
  /** The header object as sent. */
  header: Record<string, unknown>;
}

export class WyomingTestClient {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #events: ReceivedEvent[] = [];
  #waiters: Array<() => void> = [];
  #ended = false;
  /** Resolves when the server has closed its side (EOF or reset). */
  readonly ended: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.ended = new Promise((resolve) => {
      const finish = () => {
        this.#ended = true;
        resolve();
        this.#wake();
      };
      socket.once('end', finish);
      socket.once('close', finish);
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<WyomingTestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new WyomingTestClient(socket));
      });
      socket.once('error', reject);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #parse(): void {
    for (;;) {
      const newline = this.#buffer.indexOf(0x0a);
      if (newline < 0) return;
      const header = JSON.parse(this.#buffer.subarray(0, newline).toString('utf8')) as Record<string, any>;
      const dataLength = Number(header.data_length ?? 0);
      const payloadLength = Number(header.payload_length ?? 0);
      const total = newline + 1 + dataLength + payloadLength;
      if (this.#buffer.length < total) return;
      let data: Record<string, any> = { ...(header.data ?? {}) };
      if (dataLength > 0) Object.assign(data, JSON.parse(this.#buffer.subarray(newline + 1, newline + 1 + dataLength).toString('utf8')));
      const payload = Buffer.from(this.#buffer.subarray(newline + 1 + dataLength, total));
      this.#buffer = this.#buffer.subarray(total);
      this.#events.push({ type: header.type, data, payload, headerBytes: newline, header });
      this.#wake();
    }
  }

  /** Send one event: data as a separate block (as the reference library writes it) or inline in the header. */
  send(type: string, data?: Record<string, unknown>, payload?: Buffer, options: { inlineData?: boolean } = {}): void {
    const header: Record<string, unknown> = { type };
    let block: Buffer | undefined;
    if (data && options.inlineData) header.data = data;
    else if (data) {
      block = Buffer.from(JSON.stringify(data));
      header.data_length = block.length;
    }
    if (payload && payload.length > 0) header.payload_length = payload.length;
    this.socket.write(Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), block ?? Buffer.alloc(0), payload ?? Buffer.alloc(0)]));
  }

  /** Write raw bytes, for malformed input. */
  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The next event, or undefined when the server closed first. */
  async next(timeoutMs = 10_000): Promise<ReceivedEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#events.length === 0) {
      if (this.#ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no Wyoming event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#events.shift();
  }

  /** Events up to and including one of `types`. */
  async until(types: string[], timeoutMs = 20_000): Promise<ReceivedEvent[]> {
    const events: ReceivedEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (!event) throw new Error(`the server closed the connection before ${types.join('/')} (got ${events.map((e) => e.type).join(', ')})`);
      events.push(event);
      if (types.includes(event.type)) return events;
    }
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

/** 16-bit little-endian PCM of float samples. */
export function pcm16(samples: Float32Array): Buffer {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let index = 0; index < samples.length; index++) {
    bytes.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[index]! * 32767))), index * 2);
  }
  return bytes;
}

/**
 * Wyoming event framing: one JSON header line, then `data_length` bytes of JSON data,
 * then `payload_length` bytes of payload (usually PCM).
 *
 * Everything a peer sends is hostile until checked. The reader never holds more than
 * one header line (bounded by `maxHeaderBytes`) plus one socket chunk, and it checks the
 * announced `data_length` and `payload_length` against their limits before reading a
 * byte of them, so no header can make it allocate more than the limits allow. A frame it
 * cannot make sense of is a {@link WyomingFramingError}: the stream cannot be resynced
 * after one, so the connection answers `error` and closes.
 */

/** One event: its type, its data (inline `data` merged with the data block), its payload. */
export interface WyomingEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Buffer;
}

export interface WyomingLimits {
  /** Longest header line, newline included. */
  maxHeaderBytes: number;
  /** Largest data block (`data_length`). */
  maxDataBytes: number;
  /** Largest payload (`payload_length`). */
  maxPayloadBytes: number;
}

/** A frame that breaks the protocol or a limit; `code` goes into the `error` event. */
export class WyomingFramingError extends Error {
  constructor(
    readonly code: 'INVALID_EVENT' | 'EVENT_TOO_LARGE',
    message: string,
  ) {
    super(message);
    this.name = 'WyomingFramingError';
  }
}

const NEWLINE = 0x0a;
const MAX_TYPE_LENGTH = 128;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function length(header: Record<string, unknown>, key: 'data_length' | 'payload_length', limit: number): number {
  const value = header[key];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new WyomingFramingError('INVALID_EVENT', `${key} must be a whole number of bytes, not ${JSON.stringify(value)}`);
  }
  if (value > limit) {
    throw new WyomingFramingError('EVENT_TOO_LARGE', `${key} ${value} is over this server's limit of ${limit} bytes`);
  }
  return value;
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new WyomingFramingError('INVALID_EVENT', `the ${what} is not JSON; send one JSON object per event header line`);
  }
  if (!isPlainObject(parsed)) throw new WyomingFramingError('INVALID_EVENT', `the ${what} must be a JSON object`);
  return parsed;
}

/**
 * Reads events from a byte source one at a time. The source is pulled only when an event
 * is asked for, so a slow consumer holds the peer back (TCP flow control) instead of
 * buffering what it sends.
 */
export class WyomingEventReader {
  readonly #source: AsyncIterator<Buffer>;
  readonly #limits: WyomingLimits;
  /** Bytes received and not yet consumed, at most one header line plus one chunk. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;
  /** Between the end of a header line and the end of its event. */
  #inEvent = false;

  constructor(source: AsyncIterable<Buffer | string>, limits: WyomingLimits) {
    const iterator = source[Symbol.asyncIterator]();
    this.#source = {
      next: async () => {
        const result = await iterator.next();
        return result.done ? result : { done: false, value: typeof result.value === 'string' ? Buffer.from(result.value) : result.value };
      },
    };
    this.#limits = limits;
  }

  /** True while part of an event has arrived and the rest has not. */
  get midEvent(): boolean {
    return this.#inEvent || this.#pendingBytes > 0;
  }

  /** The next event, or undefined when the peer closed between events. */
  async next(): Promise<WyomingEvent | undefined> {
    const line = await this.#readLine();
    if (line === undefined) return undefined;
    const header = parseJsonObject(line, 'event header');
    const type = header.type;
    if (typeof type !== 'string' || type === '' || type.length > MAX_TYPE_LENGTH) {
      throw new WyomingFramingError('INVALID_EVENT', 'the event header needs a "type" string (for example {"type":"describe"})');
    }
    if (header.data !== undefined && header.data !== null && !isPlainObject(header.data)) {
      throw new WyomingFramingError('INVALID_EVENT', `"data" of a ${type} event must be a JSON object`);
    }
    const dataLength = length(header, 'data_length', this.#limits.maxDataBytes);
    const payloadLength = length(header, 'payload_length', this.#limits.maxPayloadBytes);
    let data: Record<string, unknown> = isPlainObject(header.data) ? header.data : {};
    this.#inEvent = true;
    if (dataLength > 0) {
      const block = await this.#readExactly(dataLength, `the data of a ${type} event`);
      data = { ...data, ...parseJsonObject(block, `data block of a ${type} event`) };
    }
    const payload = payloadLength > 0 ? await this.#readExactly(payloadLength, `the payload of a ${type} event`) : undefined;
    this.#inEvent = false;
    return payload ? { type, data, payload } : { type, data };
  }

  /** Read and drop whatever else the peer sends, until it closes or the source fails. */
  async discard(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      while (!this.#ended) {
        const result = await this.#source.next();
        if (result.done) this.#ended = true;
      }
    } catch {
      // The socket was destroyed: nothing more to drop.
    }
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    const result = await this.#source.next();
    if (result.done) {
      this.#ended = true;
      return false;
    }
    if (result.value.length > 0) {
      this.#pending.push(result.value);
      this.#pendingBytes += result.value.length;
    }
    return true;
  }

  #take(count: number): Buffer {
    const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    const taken = joined.subarray(0, count);
    const rest = joined.subarray(count);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return taken;
  }

  async #readLine(): Promise<Buffer | undefined> {
    // Bytes already searched for the newline, so each chunk is scanned once.
    let searched = 0;
    for (;;) {
      let offset = 0;
      for (const chunk of this.#pending) {
        if (offset + chunk.length > searched) {
          const at = chunk.indexOf(NEWLINE, Math.max(0, searched - offset));
          if (at >= 0) {
            const end = offset + at;
            if (end + 1 > this.#limits.maxHeaderBytes) break;
            const line = this.#take(end + 1);
            return line.subarray(0, end);
          }
        }
        offset += chunk.length;
      }
      searched = this.#pendingBytes;
      if (this.#pendingBytes >= this.#limits.maxHeaderBytes) {
        throw new WyomingFramingError(
          'EVENT_TOO_LARGE',
          `an event header line is longer than ${this.#limits.maxHeaderBytes} bytes; put large data in the data block (data_length)`,
        );
      }
      if (!(await this.#pull())) {
        if (this.#pendingBytes === 0) return undefined;
        throw new WyomingFramingError('INVALID_EVENT', 'the connection ended in the middle of an event header');
      }
    }
  }

  async #readExactly(count: number, what: string): Promise<Buffer> {
    while (this.#pendingBytes < count) {
      if (!(await this.#pull())) throw new WyomingFramingError('INVALID_EVENT', `the connection ended before ${what} (${count} bytes) arrived`);
    }
    return Buffer.from(this.#take(count));
  }
}

/**
 * One event as bytes, written as the reference library writes it: the data as a separate
 * block (so a large `info` never makes the header line long), `payload_length` only when
 * there is a payload.
 */
export function encodeWyomingEvent(type: string, data?: Record<string, unknown>, payload?: Uint8Array): Buffer {
  const header: Record<string, unknown> = { type };
  const dataBytes = data && Object.keys(data).length > 0 ? Buffer.from(JSON.stringify(data), 'utf8') : undefined;
  if (dataBytes) header.data_length = dataBytes.length;
  if (payload && payload.length > 0) header.payload_length = payload.length;
  const parts: Uint8Array[] = [Buffer.from(`${JSON.stringify(header)}\n`, 'utf8')];
  if (dataBytes) parts.push(dataBytes);
  if (payload && payload.length > 0) parts.push(payload);
  return Buffer.concat(parts);
}

/**
 * The Wyoming protocol server (Home Assistant's voice protocol) on its own TCP port,
 * `TALKIES_WYOMING_PORT`. It is a front end like the HTTP routes: `describe` is answered
 * from the model catalog, `synthesize` goes through the {@link SpeechService}, and
 * `transcribe` + audio through the shared live transcription path.
 *
 * Each connection reads one event at a time and handles it before reading the next, so a
 * peer that sends faster than the server works is held back by TCP, not buffered; writes
 * wait for the peer to read (a peer that stops reading for the idle timeout is cut off,
 * which frees whatever model it held). Any error is answered with an `error` event and
 * the connection closes, as Home Assistant expects (it never reads `error` otherwise).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { inject, injectable } from 'tsyringe';
import type { Logger } from 'pino';
import { SpeechError } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { ModelCatalog } from './model-catalog.js';
import { SpeechService, type SpeechStream } from './speech-service.js';
import { ConfigToken, LoggerToken } from './tokens.js';
import { encodeWyomingEvent, WyomingEventReader, WyomingFramingError, type WyomingEvent, type WyomingLimits } from './wyoming-framing.js';
import { buildWyomingInfo, VOICE_SEPARATOR } from './wyoming-info.js';
import { announceWyoming, type WyomingAnnouncement } from './wyoming-zeroconf.js';

/** Longest header line accepted (and the most a header can make the server buffer). */
export const WYOMING_MAX_HEADER_BYTES = 64 * 1024;
/** Largest payload (one audio chunk) accepted. */
export const WYOMING_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** A connection idle between requests for this long is closed. */
const IDLE_CONNECTION_SECONDS = 300;
/** Samples per `audio-chunk` sent for synthesised speech (as wyoming-piper sends). */
const SAMPLES_PER_CHUNK = 1024;
/** After an `error`, how long the peer's remaining bytes are read and dropped before the socket is destroyed. */
const LINGER_MS = 2000;

/** The peer is gone, or stopped reading for too long; nothing more can be sent. */
class ConnectionLost extends Error {
  constructor(message = 'the Wyoming client disconnected') {
    super(message);
    this.name = 'ConnectionLost';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(data: Record<string, unknown>, key: string, event: string): string | undefined {
  const value = data[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new SpeechError('INVALID_REQUEST', `"${key}" of a ${event} event must be a string`, { param: key });
  return value;
}

/** One client connection: reads events one at a time and answers them. */
class WyomingConnection {
  readonly #socket: Socket;
  readonly #server: WyomingServer;
  readonly #logger: Logger;
  readonly #reader: WyomingEventReader;
  /** Aborted when the peer goes away or the connection is cut, to stop the work it started. */
  readonly #abort = new AbortController();
  /** Set while an event is being handled (between two reads). */
  #busy = false;
  #closing = false;
  #ending = false;
  /** Resolves the read in progress with "no more events" when the server shuts down. */
  #stopReading!: () => void;
  readonly #stopped = new Promise<undefined>((resolve) => {
    this.#stopReading = () => resolve(undefined);
  });
  #closed: Promise<void>;

  constructor(socket: Socket, server: WyomingServer, logger: Logger, limits: WyomingLimits) {
    this.#socket = socket;
    this.#server = server;
    this.#logger = logger;
    this.#reader = new WyomingEventReader(this.#chunks(socket, server.config), limits);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => this.#abort.abort(new SpeechError('ABORTED', 'the Wyoming client disconnected')));
    // Errors (a reset peer) end in 'close'; the handler above does the rest.
    socket.on('error', (error) => this.#logger.debug({ err: error }, 'wyoming: socket error'));
    socket.setNoDelay(true);
  }

  /**
   * The socket's bytes, each wait bounded: a peer that stops in the middle of an event
   * gets the body idle timeout, an idle one (between events) five minutes.
   */
  #chunks(socket: Socket, config: ServerConfig): AsyncIterable<Buffer> {
    const chunks = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const next = async (): Promise<IteratorResult<Buffer>> => {
      const seconds = this.#reader.midEvent ? config.bodyIdleTimeoutSeconds || IDLE_CONNECTION_SECONDS : IDLE_CONNECTION_SECONDS;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ConnectionLost(`the Wyoming client sent nothing for ${seconds} s`)), seconds * 1000);
      });
      try {
        return await Promise.race([chunks.next(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Shutdown: an idle connection ends now; a busy one after its current request. */
  shutdown(): void {
    this.#closing = true;
    if (!this.#busy) this.#stopReading();
  }

  /** Cut the connection now (shutdown deadline). */
  destroy(): void {
    this.#socket.destroy();
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        if (this.#closing) break;
        const event = await this.#read();
        if (event === undefined) break;
        this.#busy = true;
        try {
          await this.#handle(event);
        } finally {
          this.#busy = false;
        }
      }
      this.#end();
    } catch (error) {
      await this.#fail(error);
    }
  }

  /** The next event, or undefined when the peer closed or the server is shutting down. */
  #read(): Promise<WyomingEvent | undefined> {
    return Promise.race([this.#reader.next(), this.#stopped]);
  }

  async #handle(event: WyomingEvent): Promise<void> {
    this.#logger.debug({ type: event.type }, 'wyoming: event');
    switch (event.type) {
      case 'describe':
        await this.#send('info', await this.#server.info());
        return;
      case 'ping':
        await this.#send('pong', typeof event.data.text === 'string' ? { text: event.data.text } : {});
        return;
      case 'synthesize':
        await this.#synthesize(event.data);
        return;
      case 'transcribe':
      case 'audio-start':
        throw new SpeechError('UNSUPPORTED_CAPABILITY', 'speech-to-text over Wyoming is not served by this version of talkies yet; use POST /v1/audio/transcriptions');
      default:
        // Unknown events are skipped, as the reference servers do (newer clients send more).
        this.#logger.debug({ type: event.type }, 'wyoming: event ignored');
    }
  }

  async #synthesize(data: Record<string, unknown>): Promise<void> {
    const text = data.text;
    if (typeof text !== 'string') throw new SpeechError('INVALID_REQUEST', 'a synthesize event needs "text", the text to speak', { param: 'text' });
    const voice = data.voice === undefined || data.voice === null ? {} : data.voice;
    if (!isObject(voice)) throw new SpeechError('INVALID_REQUEST', '"voice" of a synthesize event must be an object like {"name": "espeak/en-us"}', { param: 'voice' });
    if (text.trim() === '') {
      // Nothing to say: a bare audio-stop, as wyoming-piper answers.
      await this.#send('audio-stop', { timestamp: 0 });
      return;
    }
    const choice = await this.#server.chooseVoice(optionalString(voice, 'name', 'synthesize'), optionalString(voice, 'language', 'synthesize'));
    const speech = this.#server.speech;
    const order = await speech.prepare(
      { model: choice.model, input: text, voice: choice.voice, response_format: 'pcm', speed: 1, language: choice.language },
      this.#abort.signal,
    );
    let rate = 0;
    const stream: SpeechStream = await speech.stream(order, (sampleRate) => {
      rate = sampleRate;
    });
    let samples = 0;
    let started = false;
    try {
      for (;;) {
        const next = await stream.next();
        if (next.done) break;
        if (!started) {
          await this.#send('audio-start', { rate, width: 2, channels: 1, timestamp: 0 });
          started = true;
        }
        for (let offset = 0; offset < next.value.length; offset += SAMPLES_PER_CHUNK * 2) {
          const piece = next.value.subarray(offset, offset + SAMPLES_PER_CHUNK * 2);
          await this.#send('audio-chunk', { rate, width: 2, channels: 1, timestamp: Math.round((samples / rate) * 1000) }, piece);
          samples += piece.length / 2;
        }
      }
    } finally {
      await stream.return();
    }
    if (!started) await this.#send('audio-start', { rate: rate || 22050, width: 2, channels: 1, timestamp: 0 });
    await this.#send('audio-stop', { timestamp: rate ? Math.round((samples / rate) * 1000) : 0 });
  }

  /** Write one event; waits while the peer is not reading, up to the idle timeout. */
  async #send(type: string, data?: Record<string, unknown>, payload?: Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) throw new ConnectionLost();
    if (socket.write(encodeWyomingEvent(type, data, payload))) return;
    const seconds = this.#server.config.bodyIdleTimeoutSeconds || IDLE_CONNECTION_SECONDS;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new ConnectionLost());
      const timer = setTimeout(() => {
        done(new ConnectionLost(`the Wyoming client read nothing for ${seconds} s`));
        socket.destroy();
      }, seconds * 1000);
      socket.on('drain', onDrain);
      socket.once('close', onClose);
    });
  }

  /** Answer an error with an `error` event, then close. */
  async #fail(error: unknown): Promise<void> {
    if (error instanceof ConnectionLost || this.#socket.destroyed) {
      this.#logger.debug({ err: error }, 'wyoming: connection ended');
      this.#socket.destroy();
      return;
    }
    let text: string;
    let code: string;
    if (error instanceof WyomingFramingError) {
      ({ message: text, code } = error);
      this.#logger.info({ code, message: text }, 'wyoming: malformed event; connection closed');
    } else if (SpeechError.is(error) && error.code === 'ABORTED') {
      this.#socket.destroy();
      return;
    } else if (SpeechError.is(error) && (error.status < 500 || error.status === 503)) {
      ({ message: text, code } = error);
      this.#logger.info({ code, message: text }, 'wyoming: request refused');
    } else {
      this.#logger.error({ err: error }, 'wyoming: request failed');
      code = SpeechError.is(error) ? error.code : 'INTERNAL';
      text = 'the server failed to handle this request; its log has the details';
    }
    if (this.#socket.writable) this.#socket.write(encodeWyomingEvent('error', { text, code }));
    this.#end();
  }

  /**
   * Half-close: the peer gets everything written so far, then EOF. What it still sends is
   * read and dropped for a moment (closing with unread bytes would reset the connection
   * and could lose the last event), then the socket is destroyed.
   */
  #end(): void {
    const socket = this.#socket;
    if (socket.destroyed || this.#ending) return;
    this.#ending = true;
    socket.end();
    void this.#reader.discard();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }
}

export interface WyomingAddress {
  host: string;
  port: number;
}

/** The Wyoming TCP server: connections, shutdown, and the zeroconf announcement. */
@injectable()
export class WyomingServer {
  readonly #connections = new Set<WyomingConnection>();
  #server: Server | undefined;
  #announcement: WyomingAnnouncement | undefined;

  constructor(
    @inject(ConfigToken) readonly config: ServerConfig,
    @inject(LoggerToken) private readonly logger: Logger,
    @inject(ModelCatalog) readonly catalog: ModelCatalog,
    @inject(SpeechService) readonly speech: SpeechService,
  ) {}

  /** Listen on `port` (0 picks one) at the HTTP server's host, and announce it when allowed. */
  async listen(port: number): Promise<WyomingAddress> {
    const limits: WyomingLimits = {
      maxHeaderBytes: WYOMING_MAX_HEADER_BYTES,
      maxDataBytes: this.config.maxJsonBytes,
      maxPayloadBytes: WYOMING_MAX_PAYLOAD_BYTES,
    };
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      const connection = new WyomingConnection(socket, this, this.logger.child({ wyoming: `${socket.remoteAddress}:${socket.remotePort}` }), limits);
      this.#connections.add(connection);
      void connection.closed.then(() => this.#connections.delete(connection));
      void connection.run();
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new SpeechError(
            'CONFIG_INVALID',
            `the Wyoming server cannot listen on ${this.config.host}:${port} (${error.code ?? error.message}); pick a free TALKIES_WYOMING_PORT or leave it empty to turn Wyoming off`,
            { cause: error },
          ),
        ),
      );
      server.listen(port, this.config.host, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    server.on('error', (error) => this.logger.error({ err: error }, 'wyoming: server error'));
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.logger.info({ host: this.config.host, port: bound }, 'wyoming server is listening');
    if (this.config.wyomingZeroconf) {
      this.#announcement = await announceWyoming({ host: this.config.host, port: bound, logger: this.logger });
    }
    return { host: this.config.host, port: bound };
  }

  /** Stop accepting; idle connections close now, busy ones after their request or at the shutdown deadline. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    await this.#announcement?.stop();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.#connections) connection.shutdown();
    const deadline = setTimeout(() => {
      for (const connection of this.#connections) connection.destroy();
    }, this.config.shutdownTimeoutSeconds * 1000);
    deadline.unref();
    await Promise.all([...this.#connections].map((connection) => connection.closed));
    await stopped;
    clearTimeout(deadline);
  }

  info(): Promise<Record<string, unknown>> {
    return buildWyomingInfo(this.catalog, this.logger, { transcription: false, transcriptStreaming: false });
  }

  /**
   * The model and voice a synthesize event's voice means: `<model>/<voice>` as `info`
   * lists them; a bare voice name for the first TTS model; a language picks the first
   * voice that speaks it; nothing picks the first TTS model's default voice.
   */
  async chooseVoice(name: string | undefined, language: string | undefined): Promise<{ model: string; voice?: string; language?: string }> {
    const ttsModels = this.catalog.list().filter((model) => model.backend.modality === 'tts');
    if (ttsModels.length === 0) {
      throw new SpeechError('UNSUPPORTED_CAPABILITY', 'this server has no text-to-speech model; add one to models.json', { param: 'voice' });
    }
    if (name) {
      const at = name.indexOf(VOICE_SEPARATOR);
      if (at > 0) {
        const slug = name.slice(0, at);
        if (ttsModels.some((model) => model.slug === slug)) return { model: slug, voice: name.slice(at + 1), language };
      }
      return { model: ttsModels[0]!.slug, voice: name, language };
    }
    if (language) {
      const wanted = language.toLowerCase();
      for (const model of ttsModels) {
        if (model.backend.modality !== 'tts') continue;
        const voices = await model.backend.voices().catch(() => []);
        const match =
          voices.find((voice) => voice.language?.toLowerCase() === wanted) ??
          voices.find((voice) => voice.language?.toLowerCase().split(/[-_]/)[0] === wanted.split(/[-_]/)[0]);
        if (match) return { model: model.slug, voice: match.id, language };
      }
    }
    return { model: ttsModels[0]!.slug, language };
  }
}

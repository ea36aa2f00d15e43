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
import { SpeechError, type LiveTranscription } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { ModelCatalog } from './model-catalog.js';
import { SpeechService, type SpeechStream } from './speech-service.js';
import { ConfigToken, LoggerToken } from './tokens.js';
import { LiveTranscriptionService } from './live-transcription-service.js';
import { audioFormat, pcmToMono, type WyomingAudioFormat } from './wyoming-audio.js';
import { encodeWyomingEvent, WyomingEventReader, WyomingFramingError, type WyomingEvent, type WyomingLimits } from './wyoming-framing.js';
import { buildWyomingInfo, VOICE_SEPARATOR } from './wyoming-info.js';
import { SentenceBuffer } from './wyoming-sentences.js';
import { announceWyoming, type WyomingAnnouncement } from './wyoming-zeroconf.js';

/** Longest header line accepted (and the most a header can make the server buffer). */
export const WYOMING_MAX_HEADER_BYTES = 64 * 1024;
/** Largest payload (one audio chunk) accepted. */
export const WYOMING_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Connections served at once; more are closed as they arrive (Home Assistant opens one per request). */
export const WYOMING_MAX_CONNECTIONS = 128;
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

/** One audio stream being transcribed (from audio-start to its transcript). */
interface Transcription {
  session: LiveTranscription;
  format: WyomingAudioFormat;
  /** Frames received, against TALKIES_MAX_AUDIO_SECONDS. */
  frames: number;
  maxFrames: number;
  /** Sends the session's events to the client; settles after `transcript`. */
  pump: Promise<void>;
  /** Why the pump failed, once it has. */
  error?: unknown;
}

type VoiceChoice = { model: string; voice?: string; language?: string };

/** Where synthesised audio goes: one audio-start, then chunks with running timestamps. */
interface SpeechOutput {
  choice: VoiceChoice;
  rate: number;
  samples: number;
  started: boolean;
}

/** A streaming synthesis between synthesize-start and synthesize-stop. */
interface StreamingSpeech extends SpeechOutput {
  sentences: SentenceBuffer;
  /** Characters received, against TALKIES_MAX_JSON_BYTES. */
  received: number;
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
  /** What the next audio-start is transcribed with (`transcribe`), consumed by it. */
  #asking: { model?: string; language?: string } | undefined;
  #transcription: Transcription | undefined;
  #streamingSpeech: StreamingSpeech | undefined;
  /** Rejects when work running beside the read loop (the transcript pump) fails, to end the loop. */
  #interrupt!: (error: unknown) => void;
  readonly #interrupted = new Promise<never>((_, reject) => {
    this.#interrupt = reject;
  });

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
    this.#interrupted.catch(() => {});
  }

  /**
   * The socket's bytes, each wait bounded: a peer that stops in the middle of an event
   * gets the body idle timeout, an idle one (between events) five minutes.
   */
  #chunks(socket: Socket, config: ServerConfig): AsyncIterable<Buffer> {
    const chunks = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const next = async (): Promise<IteratorResult<Buffer>> => {
      // Mid-request (inside an event, or an audio or text stream that holds a model), the
      // client must keep sending; between requests it may sit idle longer.
      const seconds = this.#reader.midEvent || this.#inRequest ? config.bodyIdleTimeoutSeconds || IDLE_CONNECTION_SECONDS : IDLE_CONNECTION_SECONDS;
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

  /** An audio stream or a streaming synthesis is open: a request spans several events. */
  get #inRequest(): boolean {
    return this.#transcription !== undefined || this.#streamingSpeech !== undefined;
  }

  /** Seconds of audio read from the client into the open transcription, if one is open. */
  get streamingSeconds(): number | undefined {
    const transcription = this.#transcription;
    return transcription ? transcription.frames / transcription.format.rate : undefined;
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Shutdown: an idle connection ends now; a busy one after its current request. */
  shutdown(): void {
    this.#closing = true;
    if (!this.#busy && !this.#inRequest) this.#stopReading();
  }

  /** Cut the connection now (shutdown deadline). */
  destroy(): void {
    this.#socket.destroy();
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        // Shutting down: a stream in progress (audio-start … audio-stop) is finished first.
        if (this.#closing && !this.#inRequest) break;
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
    } finally {
      // A stream the client never finished (it left, or the connection failed) frees its model.
      await this.#transcription?.session.close();
    }
  }

  /** The next event, or undefined when the peer closed or the server is shutting down. */
  #read(): Promise<WyomingEvent | undefined> {
    return Promise.race([this.#reader.next(), this.#stopped, this.#interrupted]);
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
      case 'synthesize-start':
        await this.#synthesizeStart(event.data);
        return;
      case 'synthesize-chunk':
        await this.#synthesizeChunk(event.data);
        return;
      case 'synthesize-stop':
        await this.#synthesizeStop();
        return;
      case 'transcribe':
        this.#transcribe(event.data);
        return;
      case 'audio-start':
        this.#audioStart(event.data);
        return;
      case 'audio-chunk':
        await this.#audioChunk(event.data, event.payload);
        return;
      case 'audio-stop':
        await this.#audioStop();
        return;
      default:
        // Unknown events are skipped, as the reference servers do (newer clients send more).
        this.#logger.debug({ type: event.type }, 'wyoming: event ignored');
    }
  }

  /** `transcribe`: the model (`name`) and language of the next audio stream, checked now. */
  #transcribe(data: Record<string, unknown>): void {
    if (this.#transcription) throw new SpeechError('INVALID_REQUEST', 'transcribe arrived while audio was streaming; send audio-stop first');
    const model = optionalString(data, 'name', 'transcribe');
    const language = optionalString(data, 'language', 'transcribe');
    this.#server.live.model(model);
    this.#asking = { model, language };
  }

  /** `audio-start`: opens a live transcription (leasing the model) for the stream that follows. */
  #audioStart(data: Record<string, unknown>): void {
    if (this.#transcription) throw new SpeechError('INVALID_REQUEST', 'audio-start arrived while audio was already streaming; send audio-stop first');
    const format = audioFormat(data, 'audio-start');
    const asking = this.#asking ?? {};
    this.#asking = undefined;
    // Engines take ISO 639-1: Home Assistant's "en-US" is "en".
    const language = asking.language?.split(/[-_]/)[0]?.toLowerCase();
    const session = this.#server.live.open({
      model: asking.model,
      sampleRate: format.rate,
      // One utterance per audio stream: the client (Home Assistant) finds where speech ends.
      segmentation: { type: 'manual' },
      language,
      signal: this.#abort.signal,
    });
    const transcription: Transcription = {
      session,
      format,
      frames: 0,
      maxFrames: Math.floor(this.#server.config.maxAudioSeconds * format.rate),
      pump: Promise.resolve(),
    };
    transcription.pump = this.#pump(session, language);
    // A failure of the pump ends the read loop at once, even while the client is idle.
    transcription.pump.catch((error: unknown) => {
      transcription.error = error;
      this.#interrupt(error);
    });
    this.#transcription = transcription;
  }

  async #audioChunk(data: Record<string, unknown>, payload: Buffer | undefined): Promise<void> {
    const transcription = this.#transcription;
    if (!transcription) throw new SpeechError('INVALID_REQUEST', 'audio-chunk arrived before audio-start; send audio-start with rate, width and channels first');
    const { format } = transcription;
    const declared = audioFormat({ ...format, ...data }, 'audio-chunk');
    if (declared.rate !== format.rate || declared.width !== format.width || declared.channels !== format.channels) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `an audio-chunk of ${declared.rate} Hz, ${declared.width} byte(s), ${declared.channels} channel(s) arrived in a stream started as ${format.rate} Hz, ${format.width} byte(s), ${format.channels} channel(s); keep one format per stream`,
      );
    }
    if (!payload) return;
    const samples = pcmToMono(payload, format);
    transcription.frames += samples.length;
    if (transcription.frames > transcription.maxFrames) {
      throw new SpeechError(
        'PAYLOAD_TOO_LARGE',
        `the audio passed TALKIES_MAX_AUDIO_SECONDS (${this.#server.config.maxAudioSeconds} s); send audio-stop sooner or raise the limit`,
      );
    }
    // Waits while the pipeline is full: the next event is not read until there is room.
    try {
      await transcription.session.write(samples);
    } catch (error) {
      // A session that failed refuses writes; the failure itself is what the client needs.
      throw transcription.error ?? error;
    }
  }

  /** `audio-stop`: the last audio is transcribed; the pump sends `transcript`. */
  async #audioStop(): Promise<void> {
    const transcription = this.#transcription;
    if (!transcription) throw new SpeechError('INVALID_REQUEST', 'audio-stop arrived without audio-start; send transcribe (optional), audio-start, audio-chunk… then audio-stop');
    transcription.session.end();
    try {
      await transcription.pump;
    } finally {
      this.#transcription = undefined;
    }
  }

  /**
   * The session's text to the client: `transcript-start` and `transcript-chunk` as pieces
   * are transcribed while audio still arrives, then `transcript` (the whole text, which is
   * what Home Assistant reads) and `transcript-stop`.
   */
  async #pump(session: LiveTranscription, language: string | undefined): Promise<void> {
    let started = false;
    let lastUtterance: number | undefined;
    let sent = '';
    const start = async () => {
      if (started) return;
      started = true;
      await this.#send('transcript-start', language ? { language } : {});
    };
    for await (const event of session) {
      if (event.type === 'delta') {
        if (event.text === '') continue;
        await start();
        // Utterances are joined with one space, as the final text joins them.
        const text = lastUtterance !== undefined && lastUtterance !== event.utterance && sent !== '' && !/^\s/.test(event.text) ? ` ${event.text}` : event.text;
        lastUtterance = event.utterance;
        sent += text;
        await this.#send('transcript-chunk', { text });
      } else if (event.type === 'failed') {
        throw event.error;
      } else if (event.type === 'done') {
        await start();
        const spoken = event.result.language ?? language;
        await this.#send('transcript', { text: event.text, ...(spoken ? { language: spoken } : {}) });
        await this.#send('transcript-stop');
        return;
      }
    }
    // The events ended without `done`: the session was closed (the client left).
    throw new ConnectionLost();
  }

  /** The voice a synthesize or synthesize-start event asks for. */
  async #voiceOf(data: Record<string, unknown>, event: string): Promise<VoiceChoice> {
    const voice = data.voice === undefined || data.voice === null ? {} : data.voice;
    if (!isObject(voice)) throw new SpeechError('INVALID_REQUEST', `"voice" of a ${event} event must be an object like {"name": "espeak/en-us"}`, { param: 'voice' });
    return this.#server.chooseVoice(optionalString(voice, 'name', event), optionalString(voice, 'language', event));
  }

  /** `synthesize`: the text as audio-start, audio-chunk…, audio-stop (ignored inside a streaming synthesis). */
  async #synthesize(data: Record<string, unknown>): Promise<void> {
    const text = data.text;
    if (typeof text !== 'string') throw new SpeechError('INVALID_REQUEST', 'a synthesize event needs "text", the text to speak', { param: 'text' });
    // Inside synthesize-start … synthesize-stop the full text comes again for older servers: it is already being spoken.
    if (this.#streamingSpeech) return;
    if (text.trim() === '') {
      // Nothing to say: a bare audio-stop, as wyoming-piper answers.
      await this.#send('audio-stop', { timestamp: 0 });
      return;
    }
    const output: SpeechOutput = { choice: await this.#voiceOf(data, 'synthesize'), rate: 0, samples: 0, started: false };
    await this.#speak(text, output);
    await this.#stopAudio(output);
  }

  /** `synthesize-start`: text follows in synthesize-chunk events; each sentence is spoken once it is complete. */
  async #synthesizeStart(data: Record<string, unknown>): Promise<void> {
    if (this.#streamingSpeech) throw new SpeechError('INVALID_REQUEST', 'synthesize-start arrived while a streaming synthesis was open; send synthesize-stop first');
    this.#streamingSpeech = { choice: await this.#voiceOf(data, 'synthesize-start'), rate: 0, samples: 0, started: false, sentences: new SentenceBuffer(), received: 0 };
  }

  async #synthesizeChunk(data: Record<string, unknown>): Promise<void> {
    const output = this.#streamingSpeech;
    if (!output) throw new SpeechError('INVALID_REQUEST', 'synthesize-chunk arrived before synthesize-start');
    if (typeof data.text !== 'string') throw new SpeechError('INVALID_REQUEST', 'a synthesize-chunk event needs "text"', { param: 'text' });
    output.received += data.text.length;
    if (output.received > this.#server.config.maxJsonBytes) {
      throw new SpeechError('PAYLOAD_TOO_LARGE', `a streaming synthesis passed ${this.#server.config.maxJsonBytes} characters (TALKIES_MAX_JSON_BYTES); send synthesize-stop and start another`);
    }
    for (const sentence of output.sentences.push(data.text)) await this.#speak(sentence, output);
  }

  /** `synthesize-stop`: the rest of the text, audio-stop, then synthesize-stopped. */
  async #synthesizeStop(): Promise<void> {
    const output = this.#streamingSpeech;
    if (!output) throw new SpeechError('INVALID_REQUEST', 'synthesize-stop arrived before synthesize-start');
    const rest = output.sentences.flush();
    if (rest !== '') await this.#speak(rest, output);
    this.#streamingSpeech = undefined;
    if (output.started) await this.#stopAudio(output);
    await this.#send('synthesize-stopped');
  }

  /**
   * Speaks `text` into `output`: audio-start before its first audio (once per output, so a
   * streaming synthesis keeps one format), then audio-chunk events as the engine produces
   * them. The model is leased while the engine speaks, and freed when the client leaves.
   */
  async #speak(text: string, output: SpeechOutput): Promise<void> {
    const speech = this.#server.speech;
    const { choice } = output;
    const order = await speech.prepare(
      { model: choice.model, input: text, voice: choice.voice, response_format: 'pcm', speed: 1, language: choice.language },
      this.#abort.signal,
    );
    const stream: SpeechStream = await speech.stream(order, (sampleRate) => {
      if (output.started && sampleRate !== output.rate) {
        throw new SpeechError('INFERENCE_FAILED', `the model changed its sample rate from ${output.rate} to ${sampleRate} Hz within one stream`);
      }
      output.rate = sampleRate;
    });
    try {
      for (;;) {
        const next = await stream.next();
        if (next.done) break;
        const rate = output.rate;
        if (!output.started) {
          await this.#send('audio-start', { rate, width: 2, channels: 1, timestamp: 0 });
          output.started = true;
        }
        for (let offset = 0; offset < next.value.length; offset += SAMPLES_PER_CHUNK * 2) {
          const piece = next.value.subarray(offset, offset + SAMPLES_PER_CHUNK * 2);
          await this.#send('audio-chunk', { rate, width: 2, channels: 1, timestamp: Math.round((output.samples / rate) * 1000) }, piece);
          output.samples += piece.length / 2;
        }
      }
    } finally {
      await stream.return();
    }
  }

  async #stopAudio(output: SpeechOutput): Promise<void> {
    if (!output.started) await this.#send('audio-start', { rate: output.rate || 22050, width: 2, channels: 1, timestamp: 0 });
    await this.#send('audio-stop', { timestamp: output.rate ? Math.round((output.samples / output.rate) * 1000) : 0 });
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
    // A write refused because the transcription failed: report why it failed.
    if (SpeechError.is(error) && error.code === 'ABORTED' && this.#transcription?.error) error = this.#transcription.error;
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
    @inject(LiveTranscriptionService) readonly live: LiveTranscriptionService,
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
    // Each connection may hold one event in memory: the count bounds the total.
    server.maxConnections = WYOMING_MAX_CONNECTIONS;
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.logger.info({ host: this.config.host, port: bound }, 'wyoming server is listening');
    // Home Assistant gives `describe` one second: read the voice catalogs once now, so the first answer is quick.
    void this.info().catch(() => {});
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

  /** Connections open now. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Seconds of audio each open transcription has read from its client (for tests and diagnostics). */
  streamingSeconds(): number[] {
    return [...this.#connections].flatMap((connection) => (connection.streamingSeconds === undefined ? [] : [connection.streamingSeconds]));
  }

  info(): Promise<Record<string, unknown>> {
    return buildWyomingInfo(this.catalog, this.logger, { transcription: true, transcriptStreaming: true });
  }

  /**
   * The model and voice a synthesize event's voice means: `<model>/<voice>` as `info`
   * lists them; a bare voice name for the first TTS model; a language picks the first
   * voice that speaks it; nothing picks the first TTS model's default voice.
   */
  async chooseVoice(name: string | undefined, language: string | undefined): Promise<VoiceChoice> {
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

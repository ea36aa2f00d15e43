/**
 * `/v1/realtime?intent=transcription`: OpenAI's realtime transcription over WebSocket, in
 * both dialects its clients speak: GA (`session.update` with `session.type =
 * "transcription"`, `session.created`/`.updated`) and the 2025 beta (`OpenAI-Beta:
 * realtime=v1`, `transcription_session.update`, `transcription_session.created`/`.updated`).
 *
 * Each connection is one {@link LiveTranscription} session of core (opened on the first
 * audio, so an idle socket holds no model): pcm16 at 24 kHz in, resampled inside; server
 * VAD (Silero) with speech started/stopped, or manual commits with `turn_detection: null`;
 * `conversation.item.input_audio_transcription.delta` as the engine's streaming session
 * or the bounded re-transcription produces text, `.completed` per utterance; errors as
 * `error` events (the session goes on).
 *
 * Bounds: a message over {@link MAX_MESSAGE_BYTES} closes the socket (1009); while audio
 * waits for the engine the socket stops being read (TCP pushes back on the client); while
 * the client does not read our events, the engine waits and the client is not read, and
 * after `TALKIES_BODY_IDLE_TIMEOUT` of that the socket is cut off; at most
 * {@link REALTIME_MAX_CONNECTIONS} connections at once.
 *
 * Audio must keep coming while an utterance is open: the session holds the model's lease
 * from speech started (server VAD) or the first audio after a commit/clear (manual turns)
 * until the utterance ends, and without audio server VAD never sees the silence that would
 * end it. So once all the audio received has been taken in and the utterance still waits
 * for more, a client that sends no `input_audio_buffer.append` (nor commit or clear) for
 * `TALKIES_BODY_IDLE_TIMEOUT` gets an `error` event (`audio_idle_timeout`) and the socket is
 * closed (1008), which ends its session and releases the model at once. A connection idle
 * between utterances holds nothing and is never cut by this; `0` turns the rule off.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { SpeechError, type LiveEvent, type LiveSegmentation, type LiveTranscription } from '@talkies/core';
import { checkBearerToken } from './auth-middleware.js';
import type { ServerConfig } from './config.js';
import { LiveTranscriptionService } from './live-transcription-service.js';
import { ConfigToken, LoggerToken } from './tokens.js';

/** Longest error message sent; longer ones (quoting a huge client string) are cut. */
const MAX_ERROR_MESSAGE = 2048;
/** Longest client `event_id` echoed in an error. */
const MAX_ECHOED_EVENT_ID = 256;

/** `text`, or its first `max` characters and how many were left out. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** The largest WebSocket message accepted: 15 MiB of audio is OpenAI's per-append limit, base64 is 4/3 of it. */
export const MAX_MESSAGE_BYTES = 21 * 1024 * 1024;
/** Audio waiting for the engine before the socket stops being read, in seconds. */
const MAX_QUEUED_SECONDS = 10;
/** Bytes queued for the client before events stop being taken from the session. */
const MAX_SEND_BUFFER = 1 << 20;
/** Realtime connections served at once; more are refused with 503. */
export const REALTIME_MAX_CONNECTIONS = 128;
/** Poll period of the idle-audio rule, at most (a quarter of the timeout when shorter). */
const IDLE_CHECK_MS = 1000;
/** The subprotocol that carries a browser client's key (it cannot set headers). */
const KEY_PROTOCOL = 'openai-insecure-api-key.';

const PATHS = new Set(['/v1/realtime', '/realtime']);

const turnDetectionSchema = z
  .object({
    type: z.string().optional(),
    threshold: z.number().min(0).max(1).optional(),
    prefix_padding_ms: z.number().int().min(0).max(10_000).optional(),
    silence_duration_ms: z.number().int().min(0).max(60_000).optional(),
  })
  .passthrough()
  .nullable();

const transcriptionSchema = z
  .object({ model: z.string().optional(), language: z.string().optional(), prompt: z.string().optional() })
  .passthrough()
  .nullable();

const gaFormatSchema = z.object({ type: z.string(), rate: z.number().int().optional() }).passthrough();

const sessionUpdateSchema = z.object({
  type: z.literal('session.update'),
  event_id: z.string().optional(),
  session: z
    .object({
      type: z.string().optional(),
      audio: z
        .object({
          input: z
            .object({
              format: gaFormatSchema.optional(),
              transcription: transcriptionSchema.optional(),
              turn_detection: turnDetectionSchema.optional(),
              noise_reduction: z.unknown().optional(),
            })
            .passthrough()
            .optional(),
        })
        .passthrough()
        .optional(),
      include: z.array(z.string()).nullable().optional(),
    })
    .passthrough(),
});

const betaSessionUpdateSchema = z.object({
  type: z.literal('transcription_session.update'),
  event_id: z.string().optional(),
  session: z
    .object({
      input_audio_format: z.string().optional(),
      input_audio_transcription: transcriptionSchema.optional(),
      turn_detection: turnDetectionSchema.optional(),
      input_audio_noise_reduction: z.unknown().optional(),
      include: z.array(z.string()).nullable().optional(),
    })
    .passthrough(),
});

interface SessionConfig {
  model: string;
  language?: string;
  prompt?: string;
  /** Input sample rate (pcm16 mono). */
  rate: number;
  turnDetection: { threshold: number; prefixPaddingMs: number; silenceDurationMs: number } | null;
  noiseReduction: unknown;
  logprobs: boolean;
}

function eventId(): string {
  return `event_${randomBytes(9).toString('base64url')}`;
}

/** Offered subprotocols, as the `Sec-WebSocket-Protocol` header lists them. */
function offeredProtocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
}

/** Refuses an upgrade with an HTTP answer in the server's error shape. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { message, type: status === 401 ? 'authentication_error' : 'invalid_request_error', param: null, code }, detail: message });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

@injectable()
export class RealtimeTranscriptionServer {
  readonly #sockets = new Set<WebSocket>();
  readonly #server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    // Echo `realtime` when offered: the ws client gives up on a handshake that answers none.
    handleProtocols: (protocols) => (protocols.has('realtime') ? 'realtime' : false),
  });
  #closing = false;

  constructor(
    @inject(LiveTranscriptionService) private readonly live: LiveTranscriptionService,
    @inject(ConfigToken) private readonly config: ServerConfig,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  /** Serves upgrades to `/v1/realtime` on `server`; other upgrade requests are refused with 404. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
  }

  /** Ends every connection (1001, going away); their sessions release their models. */
  close(): void {
    this.#closing = true;
    for (const socket of this.#sockets) socket.close(1001, 'server shutting down');
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!PATHS.has(url.pathname)) return refuse(socket, 404, 'not_found', `no WebSocket endpoint at ${url.pathname}; live transcription is at /v1/realtime?intent=transcription`);
    if (this.#closing) return refuse(socket, 503, 'shutting_down', 'the server is shutting down; reconnect to another instance or later');
    if (this.#sockets.size >= REALTIME_MAX_CONNECTIONS) {
      return refuse(socket, 503, 'too_many_connections', `${REALTIME_MAX_CONNECTIONS} realtime connections are open; retry when one closes`);
    }
    const protocols = offeredProtocols(request);
    if (this.config.authToken) {
      const header = /^bearer +(.*)$/i.exec(request.headers.authorization ?? '')?.[1];
      const fromProtocol = protocols.find((protocol) => protocol.startsWith(KEY_PROTOCOL))?.slice(KEY_PROTOCOL.length);
      const token = header ?? fromProtocol;
      if (token === undefined) {
        return refuse(socket, 401, 'unauthorized', `missing credentials; send Authorization: Bearer <TALKIES_AUTH_TOKEN>, or the subprotocol ${KEY_PROTOCOL}<token>`);
      }
      if (!checkBearerToken(token.trim(), this.config.authToken)) return refuse(socket, 401, 'unauthorized', 'invalid bearer token');
    }
    const intent = url.searchParams.get('intent');
    const requested = url.searchParams.get('model') ?? undefined;
    let model: string;
    try {
      if (intent !== null && intent !== 'transcription') throw new SpeechError('INVALID_REQUEST', `intent '${intent}' is not served; talkies serves transcription sessions: ?intent=transcription`);
      // Older clients can only build ?model= URLs: a transcription model there means a transcription session.
      model = this.live.model(intent === 'transcription' ? undefined : requested).slug;
      if (intent === 'transcription' && requested) model = this.live.model(requested).slug;
    } catch (error) {
      const speechError = SpeechError.is(error) ? error : new SpeechError('INVALID_REQUEST', String(error));
      const hint = intent === null && requested ? `; for a transcription session connect to /v1/realtime?intent=transcription` : '';
      return refuse(socket, speechError.status === 404 ? 404 : 400, speechError.code.toLowerCase(), `${speechError.message}${hint}`);
    }
    const beta = /realtime=v1/i.test(String(request.headers['openai-beta'] ?? '')) || protocols.includes('openai-beta.realtime-v1');
    this.#server.handleUpgrade(request, socket, head, (webSocket) => {
      this.#sockets.add(webSocket);
      webSocket.once('close', () => this.#sockets.delete(webSocket));
      new RealtimeConnection(webSocket, this.live, this.logger, { model, beta, stallSeconds: this.config.bodyIdleTimeoutSeconds }).start();
    });
  }
}

/** One WebSocket: the session configuration, the live session, and the event mapping. */
class RealtimeConnection {
  readonly #socket: WebSocket;
  readonly #live: LiveTranscriptionService;
  readonly #logger: Logger;
  readonly #beta: boolean;
  /**
   * A client that reads none of our events for this long is cut off, and so is one that
   * sends no audio for this long while its utterance is open (0: never).
   */
  readonly #stallSeconds: number;
  readonly #sessionId = `sess_${randomBytes(9).toString('base64url')}`;
  #config: SessionConfig;
  #session: LiveTranscription | undefined;
  /** Item id per utterance of the current live session. */
  #items = new Map<number, string>();
  #previousItem: string | null = null;
  /** Incoming messages are handled one at a time, in order. */
  #inbox: Promise<void> = Promise.resolve();
  /** Messages received and not yet handled. */
  #inboxDepth = 0;
  /** When audio, a commit or a clear last came (or an append was last handled). */
  #lastInput = Date.now();
  #idleCheck: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(socket: WebSocket, live: LiveTranscriptionService, logger: Logger, options: { model: string; beta: boolean; stallSeconds: number }) {
    this.#socket = socket;
    this.#stallSeconds = options.stallSeconds;
    this.#live = live;
    this.#logger = logger;
    this.#beta = options.beta;
    this.#config = {
      model: options.model,
      rate: 24000,
      turnDetection: { threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
      noiseReduction: null,
      logprobs: false,
    };
  }

  start(): void {
    this.#send({ type: this.#beta ? 'transcription_session.created' : 'session.created', session: this.#describe() });
    this.#socket.on('message', (data, isBinary) => {
      // While our events pile up unread, the client is not read either (TCP pushes back on its
      // sends), under the same cut-off: any message can be answered with as many bytes as it
      // has (session.updated echoes the prompt), so a client that never reads would otherwise
      // grow our send queue by everything it sends.
      if (this.#socket.bufferedAmount > MAX_SEND_BUFFER) this.#socket.pause();
      this.#inboxDepth++;
      this.#inbox = this.#inbox.then(async () => {
        if (this.#socket.bufferedAmount > MAX_SEND_BUFFER || this.#socket.isPaused) {
          this.#socket.pause();
          if (!(await this.#drained())) return;
          this.#socket.resume();
        }
        await this.#receive(data as Buffer, isBinary);
      }).catch((error) => {
        this.#logger.error({ err: error }, 'realtime message handling failed');
        this.#error('server_error', 'internal', 'the server failed on this event; the server log has the details');
      }).finally(() => {
        this.#inboxDepth--;
      });
    });
    if (this.#stallSeconds > 0) {
      this.#idleCheck = setInterval(() => this.#checkIdle(), Math.min(IDLE_CHECK_MS, this.#stallSeconds * 250));
      this.#idleCheck.unref();
    }
    this.#socket.on('close', () => {
      clearInterval(this.#idleCheck);
      this.#closed = true;
      void this.#session?.close();
      this.#session = undefined;
    });
    this.#socket.on('error', () => this.#socket.terminate());
  }

  /**
   * The idle-audio rule: every message has been handled (none waits in the inbox or on the
   * engine), the session has taken in all its audio and its utterance waits for more, and
   * none came for TALKIES_BODY_IDLE_TIMEOUT: say so, close the socket and end the session now
   * (the close handshake may take the client a while; the model must not wait for it).
   * A client that does not read its events is left to the stall rule of {@link #drained}.
   */
  #checkIdle(): void {
    const session = this.#session;
    if (this.#closed || this.#inboxDepth > 0 || this.#socket.bufferedAmount > MAX_SEND_BUFFER || !session?.utteranceWaitsForInput) return;
    if (Date.now() - this.#lastInput < this.#stallSeconds * 1000) return;
    const seconds = this.#stallSeconds;
    this.#logger.info({ seconds }, 'realtime client sent no audio within TALKIES_BODY_IDLE_TIMEOUT while its utterance was open; closed');
    this.#error(
      'invalid_request_error',
      'audio_idle_timeout',
      `no audio for ${seconds} s while an utterance was open (TALKIES_BODY_IDLE_TIMEOUT); the session was closed to free the model. Keep streaming audio (silence included) while speaking, or commit or clear the buffer; reconnect to go on`,
    );
    this.#socket.close(1008, 'no audio while an utterance was open');
    clearInterval(this.#idleCheck);
    this.#closed = true;
    this.#session = undefined;
    void session.close();
  }

  #send(event: Record<string, unknown>): void {
    if (this.#closed || this.#socket.readyState !== this.#socket.OPEN) return;
    const queued = this.#socket.bufferedAmount;
    this.#socket.send(JSON.stringify({ event_id: eventId(), ...event }));
    if (queued <= MAX_SEND_BUFFER && this.#socket.bufferedAmount > MAX_SEND_BUFFER) {
      this.#logger.debug({ queuedBytes: this.#socket.bufferedAmount }, 'realtime client is not reading its events; new events and its messages wait');
    }
  }

  #error(type: 'invalid_request_error' | 'server_error', code: string, message: string, clientEventId?: string, param?: string): void {
    // Both may quote what the client sent (an event type, a model name, its event id): a
    // message of megabytes is not sent back whole.
    this.#send({
      type: 'error',
      error: { type, code, message: clip(message, MAX_ERROR_MESSAGE), param: param ?? null, event_id: clientEventId === undefined ? null : clip(clientEventId, MAX_ECHOED_EVENT_ID) },
    });
  }

  /** The effective configuration in the dialect of the client. */
  #describe(): Record<string, unknown> {
    const config = this.#config;
    const turnDetection = config.turnDetection && {
      type: 'server_vad',
      threshold: config.turnDetection.threshold,
      prefix_padding_ms: config.turnDetection.prefixPaddingMs,
      silence_duration_ms: config.turnDetection.silenceDurationMs,
    };
    const transcription = { model: config.model, language: config.language ?? null, prompt: config.prompt ?? '' };
    const include = config.logprobs ? ['item.input_audio_transcription.logprobs'] : [];
    if (this.#beta) {
      return {
        id: this.#sessionId,
        object: 'realtime.transcription_session',
        modalities: ['text'],
        input_audio_format: 'pcm16',
        input_audio_transcription: transcription,
        turn_detection: turnDetection,
        input_audio_noise_reduction: config.noiseReduction,
        include,
      };
    }
    return {
      id: this.#sessionId,
      object: 'realtime.transcription_session',
      type: 'transcription',
      audio: { input: { format: { type: 'audio/pcm', rate: config.rate }, transcription, turn_detection: turnDetection, noise_reduction: config.noiseReduction } },
      include,
    };
  }

  async #receive(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.#closed) return;
    if (isBinary) return this.#error('invalid_request_error', 'invalid_event', 'binary messages are not events; send JSON text messages (audio goes base64 in input_audio_buffer.append)');
    let event: { type?: unknown; event_id?: unknown; [key: string]: unknown };
    try {
      event = JSON.parse(data.toString('utf8'));
      if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new Error('not an object');
    } catch {
      return this.#error('invalid_request_error', 'invalid_json', 'the message is not a JSON object; every client event is one, with a "type"');
    }
    const clientEventId = typeof event.event_id === 'string' ? event.event_id : undefined;
    switch (event.type) {
      case 'session.update':
      case 'transcription_session.update':
        return this.#update(event, clientEventId);
      case 'input_audio_buffer.append':
        return this.#append(event, clientEventId);
      case 'input_audio_buffer.commit':
        if (!this.#session) {
          return this.#error('invalid_request_error', 'input_audio_buffer_commit_empty', 'buffer too small: expected at least 100ms of audio, but the buffer only has 0.00ms of audio', clientEventId);
        }
        this.#pendingCommitEvent = clientEventId;
        this.#lastInput = Date.now();
        this.#session.commit();
        return;
      case 'input_audio_buffer.clear':
        if (!this.#session) return this.#send({ type: 'input_audio_buffer.cleared' });
        this.#lastInput = Date.now();
        this.#session.clear();
        return;
      default:
        return this.#error(
          'invalid_request_error',
          'unsupported_event',
          `'${clip(String(event.type), 200)}' is not served here: a transcription session takes session.update (or transcription_session.update) and input_audio_buffer.append, .commit and .clear`,
          clientEventId,
          'type',
        );
    }
  }

  #pendingCommitEvent: string | undefined;

  async #update(event: Record<string, unknown>, clientEventId: string | undefined): Promise<void> {
    const next: SessionConfig = { ...this.#config };
    let turnDetection: z.infer<typeof turnDetectionSchema> | undefined;
    let transcription: z.infer<typeof transcriptionSchema> | undefined;
    let include: string[] | null | undefined;
    if (event.type === 'session.update') {
      const parsed = sessionUpdateSchema.safeParse(event);
      if (!parsed.success) return this.#invalidUpdate(parsed.error, clientEventId);
      const session = parsed.data.session;
      if (session.type !== undefined && session.type !== 'transcription') {
        return this.#error('invalid_request_error', 'invalid_value', `session.type '${session.type}' is not served; talkies serves session.type "transcription"`, clientEventId, 'session.type');
      }
      const input = session.audio?.input;
      if (input?.format) {
        if (input.format.type !== 'audio/pcm') {
          return this.#error('invalid_request_error', 'invalid_value', `audio format '${input.format.type}' is not supported; send audio/pcm (16-bit little-endian mono)`, clientEventId, 'session.audio.input.format.type');
        }
        if (input.format.rate !== undefined) {
          if (input.format.rate < 8000 || input.format.rate > 48000) {
            return this.#error('invalid_request_error', 'invalid_value', `rate ${input.format.rate} is out of range; send 24000 (OpenAI's rate) or any rate from 8000 to 48000`, clientEventId, 'session.audio.input.format.rate');
          }
          next.rate = input.format.rate;
        }
      }
      turnDetection = input?.turn_detection;
      transcription = input?.transcription;
      if (input && 'noise_reduction' in input) next.noiseReduction = input.noise_reduction ?? null;
      include = session.include;
    } else {
      const parsed = betaSessionUpdateSchema.safeParse(event);
      if (!parsed.success) return this.#invalidUpdate(parsed.error, clientEventId);
      const session = parsed.data.session;
      if (session.input_audio_format !== undefined && session.input_audio_format !== 'pcm16') {
        return this.#error('invalid_request_error', 'invalid_value', `input_audio_format '${session.input_audio_format}' is not supported; send pcm16 (24 kHz, 16-bit little-endian mono)`, clientEventId, 'session.input_audio_format');
      }
      if (session.input_audio_format === 'pcm16') next.rate = 24000;
      turnDetection = session.turn_detection;
      transcription = session.input_audio_transcription;
      if ('input_audio_noise_reduction' in session) next.noiseReduction = session.input_audio_noise_reduction ?? null;
      include = session.include;
    }
    if (turnDetection === null) next.turnDetection = null;
    else if (turnDetection) {
      if (turnDetection.type !== undefined && turnDetection.type !== 'server_vad') {
        return this.#error('invalid_request_error', 'invalid_value', `turn_detection type '${turnDetection.type}' is not supported; use server_vad, or null to commit turns yourself`, clientEventId, 'turn_detection.type');
      }
      const previous = next.turnDetection ?? { threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 };
      next.turnDetection = {
        threshold: turnDetection.threshold ?? previous.threshold,
        prefixPaddingMs: turnDetection.prefix_padding_ms ?? previous.prefixPaddingMs,
        silenceDurationMs: turnDetection.silence_duration_ms ?? previous.silenceDurationMs,
      };
    }
    if (transcription) {
      if (transcription.model !== undefined) {
        try {
          next.model = this.#live.model(transcription.model).slug;
        } catch (error) {
          return this.#error('invalid_request_error', 'invalid_value', (error as Error).message, clientEventId, 'transcription.model');
        }
      }
      if (transcription.language !== undefined) next.language = transcription.language || undefined;
      if (transcription.prompt !== undefined) next.prompt = transcription.prompt || undefined;
    }
    if (include !== undefined) next.logprobs = (include ?? []).includes('item.input_audio_transcription.logprobs');
    const changed = ['model', 'language', 'prompt', 'rate'].some((key) => next[key as keyof SessionConfig] !== this.#config[key as keyof SessionConfig]) ||
      JSON.stringify(next.turnDetection) !== JSON.stringify(this.#config.turnDetection);
    this.#config = next;
    // A new configuration takes effect on the next audio: the current session finishes what it has.
    if (changed && this.#session) {
      this.#session.end();
      this.#session = undefined;
    }
    this.#send({ type: this.#beta || event.type === 'transcription_session.update' ? 'transcription_session.updated' : 'session.updated', session: this.#describe() });
  }

  #invalidUpdate(error: z.ZodError, clientEventId: string | undefined): void {
    const issue = error.issues[0];
    const param = issue?.path.map(String).join('.');
    this.#error('invalid_request_error', 'invalid_value', `invalid session update: ${param ? `${param}: ` : ''}${issue?.message ?? 'malformed'}`, clientEventId, param);
  }

  async #append(event: Record<string, unknown>, clientEventId: string | undefined): Promise<void> {
    if (typeof event.audio !== 'string') {
      return this.#error('invalid_request_error', 'invalid_value', 'input_audio_buffer.append needs "audio": base64 of 16-bit little-endian mono PCM', clientEventId, 'audio');
    }
    const bytes = Buffer.from(event.audio, 'base64');
    if (bytes.length % 2 !== 0) {
      return this.#error('invalid_request_error', 'invalid_value', 'the audio is not whole 16-bit samples (an odd number of bytes)', clientEventId, 'audio');
    }
    const samples = new Float32Array(bytes.length / 2);
    for (let index = 0; index < samples.length; index++) samples[index] = bytes.readInt16LE(index * 2) / 32768;
    let session = this.#session;
    if (!session) {
      try {
        session = this.#open();
      } catch (error) {
        const speechError = SpeechError.is(error) ? error : new SpeechError('INTERNAL', String(error));
        return this.#error(speechError.status < 500 ? 'invalid_request_error' : 'server_error', speechError.code.toLowerCase(), speechError.message, clientEventId);
      }
    }
    // While the engine is behind, stop reading the socket: the client's sends back up in TCP.
    this.#socket.pause();
    this.#lastInput = Date.now();
    try {
      await session.write(samples);
    } catch (error) {
      if (SpeechError.is(error) && error.code !== 'ABORTED') this.#error('invalid_request_error', 'input_audio_buffer_overflow', error.message, clientEventId);
    } finally {
      // The idle clock starts again when the server is ready for more, not when the client sent it.
      this.#lastInput = Date.now();
      if (!this.#closed) this.#socket.resume();
    }
  }

  /** Opens the live session for the current configuration and starts relaying its events. */
  #open(): LiveTranscription {
    const config = this.#config;
    const segmentation: LiveSegmentation = config.turnDetection ? { type: 'server_vad', ...config.turnDetection } : { type: 'manual' };
    const session = this.#live.open({
      model: config.model,
      sampleRate: config.rate,
      segmentation,
      language: config.language,
      prompt: config.prompt,
      timestamps: config.logprobs,
      maxQueuedSeconds: MAX_QUEUED_SECONDS,
    });
    this.#session = session;
    const items = new Map<number, string>();
    this.#items = items;
    void this.#relay(session, items);
    return session;
  }

  /**
   * Waits while the client is not reading: more than {@link MAX_SEND_BUFFER} bytes queued
   * for it. The relay takes no event and the inbox no message meanwhile, so the engine waits
   * too; after TALKIES_BODY_IDLE_TIMEOUT of it the socket is cut off, so the client cannot
   * hold the model.
   * False once the socket is no longer open, and then the session must end. That is checked
   * on the ready state, not on 'close': a client that closes without reading what is queued
   * for it leaves the socket closing (our close frame waits behind that queue) until ws's
   * 30 s close timeout, and with the timeout off nothing else would end this wait.
   */
  async #drained(): Promise<boolean> {
    const stalled = Date.now();
    const open = () => !this.#closed && this.#socket.readyState === this.#socket.OPEN;
    while (open() && this.#socket.bufferedAmount > MAX_SEND_BUFFER) {
      if (this.#stallSeconds > 0 && Date.now() - stalled > this.#stallSeconds * 1000) {
        this.#logger.info({ queuedBytes: this.#socket.bufferedAmount, seconds: this.#stallSeconds }, 'realtime client read none of its events within TALKIES_BODY_IDLE_TIMEOUT; cut off');
        this.#socket.terminate();
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return open();
  }

  async #relay(session: LiveTranscription, items: Map<number, string>): Promise<void> {
    const item = (utterance: number) => {
      let id = items.get(utterance);
      if (!id) items.set(utterance, (id = `item_${randomBytes(9).toString('base64url')}`));
      return id;
    };
    try {
      for await (const event of session as AsyncIterable<LiveEvent>) {
        if (!(await this.#drained())) break;
        switch (event.type) {
          case 'speech_started':
            this.#send({ type: 'input_audio_buffer.speech_started', item_id: item(event.utterance), audio_start_ms: event.audioStartMs });
            break;
          case 'speech_stopped':
            this.#send({ type: 'input_audio_buffer.speech_stopped', item_id: item(event.utterance), audio_end_ms: event.audioEndMs });
            break;
          case 'committed': {
            const id = item(event.utterance);
            this.#send({ type: 'input_audio_buffer.committed', item_id: id, previous_item_id: this.#previousItem });
            const created = { id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
            this.#send({ type: this.#beta ? 'conversation.item.created' : 'conversation.item.added', previous_item_id: this.#previousItem, item: created });
            this.#previousItem = id;
            break;
          }
          case 'cleared':
            this.#send({ type: 'input_audio_buffer.cleared' });
            break;
          case 'delta':
            this.#send({
              type: 'conversation.item.input_audio_transcription.delta',
              item_id: item(event.utterance),
              content_index: 0,
              delta: event.text,
              ...(this.#config.logprobs ? { logprobs: logprobs(event.words) } : {}),
            });
            break;
          case 'final':
            this.#send({
              type: 'conversation.item.input_audio_transcription.completed',
              item_id: item(event.utterance),
              content_index: 0,
              transcript: event.text,
              usage: { type: 'duration', seconds: Math.round(event.audioEndMs - event.audioStartMs) / 1000 },
              ...(this.#config.logprobs ? { logprobs: logprobs(event.result.words) } : {}),
            });
            break;
          case 'failed':
            this.#send({
              type: 'conversation.item.input_audio_transcription.failed',
              item_id: item(event.utterance),
              content_index: 0,
              error: { type: event.error.status < 500 ? 'invalid_request_error' : 'server_error', code: event.error.code.toLowerCase(), message: event.error.message, param: null },
            });
            break;
          case 'rejected':
            this.#error('invalid_request_error', 'input_audio_buffer_commit_empty', event.error.message, this.#pendingCommitEvent);
            break;
          case 'done':
            break;
        }
      }
    } catch (error) {
      if (this.#closed) return;
      const speechError = SpeechError.is(error) ? error : undefined;
      if (!speechError || speechError.status >= 500) this.#logger.error({ err: error }, 'realtime transcription session failed');
      const message = speechError && (speechError.status < 500 || speechError.status === 503) ? speechError.message : 'the transcription session failed; the server log has the details';
      this.#error(speechError && speechError.status < 500 ? 'invalid_request_error' : 'server_error', speechError?.code.toLowerCase() ?? 'internal', message);
    } finally {
      if (this.#session === session) this.#session = undefined;
      await session.close();
    }
  }
}

/** OpenAI's logprob entries from word confidences, where the engine gave them. */
function logprobs(words: ReadonlyArray<{ word: string; confidence?: number }>): Array<{ token: string; logprob: number; bytes: number[] }> {
  return words
    .filter((word) => typeof word.confidence === 'number')
    .map((word) => ({ token: word.word, logprob: Math.log(Math.max(word.confidence!, 1e-12)), bytes: [...Buffer.from(word.word, 'utf8')] }));
}

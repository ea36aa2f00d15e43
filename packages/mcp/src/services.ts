/**
 * What the MCP tools need from a talkies server. The package never imports the server:
 * the server adapts its model catalog, transcription pipeline and file store to this
 * interface, so the tools share the server's eviction pool and staging directory, and
 * this package stays testable with plain fakes.
 *
 * Every method may throw. The message of a thrown error is what the MCP client sees as
 * the tool error text, so implementations should throw messages that say what to do
 * next, and should hide internals of unexpected failures themselves.
 */

/** One ASR model, as `list_models` reports it (the field names of the Python talkies). */
export interface McpAsrModel {
  /** The models.json key, as passed to `transcribe`'s `model`. */
  slug: string;
  /** The engine that runs it (`whisper`, `parakeet`, …). */
  executor: string;
  /** The language assumed when a request names none; `null` means auto-detect. */
  default_source_lang: string | null;
  /** The translation target, where the model translates; otherwise `null`. */
  default_target_lang: string | null;
  /** `asr` or `translate`. */
  default_task: string;
  /** Whether the model is resident in the server's eviction pool right now. */
  loaded: boolean;
  /** Other names (models.json `aliases`) that `transcribe` accepts for this model. */
  aliases?: string[];
}

/** One staged file, as `list_files` reports it (the shape of `GET /v1/files`). */
export interface McpStagedFile {
  /** Path relative to the staging root, `/`-separated. */
  path: string;
  size: number;
  /** Last modification time, UTC ISO 8601 ending in `Z`. */
  modified: string;
}

/** Where `transcribe` reads its audio from. */
export type McpAudioSource =
  /** A staged path (or whatever else the server accepts as `file_path=`, such as a URL). */
  | { kind: 'file_path'; value: string }
  /** Audio bytes sent inline with the call, already base64-decoded and size-checked. */
  | { kind: 'bytes'; bytes: Uint8Array };

export interface McpTranscribeRequest {
  model: string;
  source: McpAudioSource;
  /** ISO-639-1 code; absent means the model's default. */
  language?: string;
  /** One of OpenAI's formats: json, verbose_json, text, txt, srt, vtt. Validated by the server. */
  responseFormat: string;
  /** Transcribe the two channels of a stereo source separately and merge them by time. */
  diarization: boolean;
  /** Aborted when the MCP client goes away. */
  signal: AbortSignal;
}

/** A rendered transcription, exactly as `POST /v1/audio/transcriptions` would answer it. */
export interface McpTranscription {
  body: string;
  contentType: string;
}

/** A staged file opened for reading: its size is known before a byte is read. */
export interface McpOpenedFile {
  /** Path relative to the staging root. */
  path: string;
  size: number;
  read(): Promise<Uint8Array>;
}

export interface TalkiesMcpServices {
  /** The ASR models only; text-to-speech models are not offered over MCP. */
  listAsrModels(): Promise<McpAsrModel[]>;
  /** Run the server's transcription pipeline (same pool, checks and rendering as HTTP). */
  transcribe(request: McpTranscribeRequest): Promise<McpTranscription>;
  listFiles(): Promise<McpStagedFile[]>;
  /** Write a staged file atomically, creating parent folders and replacing an old one. */
  putFile(path: string, bytes: Uint8Array): Promise<{ path: string; size: number }>;
  /** Open a staged file; throws `file not found: <path>` when it is missing or not a regular file. */
  openFile(path: string): Promise<McpOpenedFile>;
  /** Delete a staged file and prune the folders it leaves empty. */
  deleteFile(path: string): Promise<{ deleted: string }>;
}

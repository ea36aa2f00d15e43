/**
 * The staging area under `$TALKIES_DATA_DIR/files`, as `file_path=` and /v1/files see it.
 */
import { join } from 'node:path';
import { inject, injectable } from 'tsyringe';
import { SpeechError } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { resolveStagedFile } from './staged-path.js';
import { ConfigToken } from './tokens.js';

@injectable()
export class FileStore {
  readonly root: string;

  constructor(@inject(ConfigToken) config: ServerConfig) {
    this.root = join(config.dataDir, 'files');
  }

  /** A staged path or an http(s) URL, as a local file path ready to decode. */
  async resolveForTranscription(value: string, _signal: AbortSignal): Promise<string> {
    if (/^https?:\/\//i.test(value)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        'URL file_path is not enabled on this server yet; download the file and upload it as `file` or stage it with PUT /v1/files',
        { param: 'file_path' },
      );
    }
    return resolveStagedFile(this.root, value);
  }
}

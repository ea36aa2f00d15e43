/**
 * Imported by the CLI before anything heavy: `talkies serve` executes itself again with
 * glibc's allocator variables (malloc-tuning.ts) before it loads the server's modules, so
 * that they are loaded once, by the process that serves.
 */
import { tuneMallocAtStart } from './malloc-tuning.js';

if (process.argv[2] === 'serve') tuneMallocAtStart();

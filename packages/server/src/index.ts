export { startServer, type RunningServer, type StartOptions } from './server.js';
export { loadConfig, type ServerConfig } from './config.js';
export { createApp } from './app.js';
export { tuneMalloc, tuneMallocAtStart, type MallocTuning } from './malloc-tuning.js';
export { ModelCatalog } from './model-catalog.js';
export * from './tokens.js';
export { LiveTranscriptionService, type LiveSessionRequest } from './live-transcription-service.js';

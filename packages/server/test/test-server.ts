// The server's own tests use the helpers it publishes for engine packages.
export * from '../src/testing/index.js';

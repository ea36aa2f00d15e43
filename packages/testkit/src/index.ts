/**
 * The talkies test toolkit, for engine authors: write small ONNX graphs with the real
 * tensor names of a published export and seeded random weights, and serve model files
 * from a loopback stand-in for the Hugging Face hub; find the shared recordings (and skip
 * with a message in a plain clone without them). Test-only: an engine lists this
 * package as a devDependency (and an optional peer of its `./testing` export), never as
 * a dependency.
 */
export * from './onnx-graph-builder.js';
export * from './seeded-weights.js';
export * from './fake-hub.js';
export * from './shared-assets.js';
export * from './wav-file.js';

export { createMcpHandler, type McpHandlerOptions, type McpRequestHandler } from './mcp-handler.js';
export { createTalkiesMcpServer, TALKIES_MCP_INSTRUCTIONS, type TalkiesMcpServerOptions } from './talkies-mcp-server.js';
export { base64DecodedLength, decodeBase64, encodeBase64 } from './base64.js';
export type {
  McpAsrModel,
  McpAudioSource,
  McpOpenedFile,
  McpStagedFile,
  McpTranscribeRequest,
  McpTranscription,
  TalkiesMcpServices,
} from './services.js';

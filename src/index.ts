export { createStreamHandler, type NextFunction, type StreamHandler } from './serve/handler.ts';
export { streamFile } from './serve/stream-file.ts';
export {
  createFetchHandler,
  createFetchMiddleware,
  streamFileResponse,
  type FetchHandler,
  type FetchHandlerOptions,
  type FetchMiddleware,
  type FetchPermissionCheck,
  type FetchSendOptions,
} from './serve/fetch-handler.ts';
export type { FetchContext } from './serve/fetch-request.ts';
export { sageStreamFastify, type FastifyStreamOptions, type FastifyInstanceLike, type FastifyReplyLike } from './serve/fastify.ts';
export { RangeParser, DEFAULT_MAX_RANGES, type RangeResult, type RangeParserOptions } from './http/range.ts';
export { fileIterator, DEFAULT_CHUNK_SIZE, type FileIteratorOptions } from './files/file-iterator.ts';
export { StreamError, statusForFsError, type StreamErrorCode, type StreamErrorStatus } from './errors.ts';
export { MEDIA_TYPES, FALLBACK_MEDIA_TYPE, type MediaTypes } from './http/mime.ts';
export { etagFor, type FileIdentity } from './http/etag.ts';
export { clientIp, createProxyTrust, PROXY_RANGES, type ProxyTrust } from './http/client-ip.ts';
export { formatCombined, formatJson, escapeLogValue, redactUrl, type AccessEntry, type AccessLogHook } from './http/access-log.ts';
export {
  createMetricsHandler,
  formatPrometheus,
  processMetrics,
  type HandlerMetrics,
  type MetricsSource,
  type ProcessMetrics,
  type StatusClass,
} from './serve/metrics.ts';
export type {
  ByteRange,
  ErrorHook,
  IdentifyViewer,
  StreamOutcome,
  StreamRequest,
  StreamResponse,
  Viewer,
  WatchEntry,
  WatchRecorder,
  PlaybackEvents,
  PlaybackReport,
  PlaybackRecorder,
} from './types.ts';
export { BEACON_PATH, BEACON_SCRIPT_PATH } from './beacon/index.ts';
export { MAX_BEACON_BYTES } from './serve/beacon-report.ts';
export { createBeaconHandler } from './serve/beacon.ts';
export type {
  StreamHandlerOptions,
  SendOptions,
  PermissionCheck,
  PermissionVerdict,
  RequestedFile,
} from './serve/options.ts';
export {
  signUrl,
  signPath,
  createUrlVerifier,
  readSignedLink,
  DEFAULT_GRACE_SECONDS,
  MIN_SECRET_BYTES,
  type SignOptions,
  type SignUrlOptions,
  type SignedOptions,
  type SignedLink,
  type SignatureCheck,
  type UrlVerifier,
  type Binding,
  type BoundValues,
} from './serve/signed-url.ts';
export { DEFAULT_OPEN_FILE_CACHE, type OpenFileCacheOptions } from './files/open-file-cache.ts';
export type { RateLimit, RateOption } from './serve/rate-limit.ts';
export { DEFAULT_CORS_MAX_AGE_SECONDS, type CorsOption, type OriginCheck } from './serve/cors.ts';
export { COMPRESSIBLE_EXTENSIONS, type CompressOption } from './serve/compress.ts';
export { DEFAULT_BLOCK_CACHE_MAX_BYTES, type BlockCacheOptions, type BlockCacheStats } from './files/block-cache.ts';

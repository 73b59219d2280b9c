export { createStreamHandler, type NextFunction, type StreamHandler } from './serve/handler.ts';
export { streamFile } from './serve/stream-file.ts';
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
} from './types.ts';
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

export { createStreamHandler, type NextFunction, type StreamHandler } from './handler.ts';
export { streamFile } from './stream-file.ts';
export type { StreamOutcome } from './serve-file.ts';
export { RangeParser, DEFAULT_MAX_RANGES, type ByteRange, type RangeResult, type RangeParserOptions } from './range.ts';
export { fileIterator, DEFAULT_CHUNK_SIZE, type FileIteratorOptions } from './file-iterator.ts';
export { StreamError, statusForFsError, type StreamErrorCode, type StreamErrorStatus } from './errors.ts';
export { MEDIA_TYPES, FALLBACK_MEDIA_TYPE, type MediaTypes } from './mime.ts';
export { etagFor, type FileIdentity } from './etag.ts';
export type {
  StreamHandlerOptions,
  SendOptions,
  PermissionCheck,
  RequestedFile,
  ErrorHook,
  StreamRequest,
  StreamResponse,
} from './options.ts';
export {
  WatchLog,
  createWatchLog,
  type WatchEntry,
  type WatchLogOptions,
  type WatchQuery,
  type WatchPage,
  type RequestRow,
  type SessionRow,
  type VideoTotalRow,
  type PruneResult,
} from './watch-log.ts';
export { logWatchRequest, clientIp, type Viewer, type IdentifyViewer, type ViewerOptions, type ServedFile } from './watch-request.ts';
export { createWatchLogHandler, tokenAuthorizer, type WatchLogViewerOptions } from './watch-log-viewer.ts';
export type { PermissionVerdict } from './options.ts';
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
} from './signed-url.ts';
export { DEFAULT_OPEN_FILE_CACHE, type OpenFileCacheOptions } from './open-file-cache.ts';
export type { RateLimit, RateOption } from './rate-limit.ts';

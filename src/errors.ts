/** Machine-readable reasons a file could not be streamed. */
export type StreamErrorCode =
  | 'ERR_FORBIDDEN'
  | 'ERR_NOT_FOUND'
  | 'ERR_FILE_TRUNCATED'
  | 'ERR_READ_FAILED'
  | 'ERR_WATCH_LOG_DROPPED';

/** The HTTP statuses a StreamError can carry. */
export type StreamErrorStatus = 403 | 404 | 500;

/**
 * The one error class that crosses the public API: `code` is for programs, `status` for HTTP.
 *
 * It is what `onError` receives for failures of our own making (a file truncated while it was
 * being sent, say), with the underlying error, if any, as `cause`.
 *
 * @example
 * createStreamHandler({ root, onError: (err) => {
 *   if (err instanceof StreamError && err.code === 'ERR_FILE_TRUNCATED') metrics.truncated++;
 * } });
 */
export class StreamError extends Error {
  override readonly name = 'StreamError';
  readonly code: StreamErrorCode;
  readonly status: StreamErrorStatus;
  constructor(code: StreamErrorCode, status: StreamErrorStatus, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = status;
  }
}

/**
 * Maps a file-system error to the HTTP status a client should see.
 *
 * Missing files, paths through a non-directory and over-long names are 404; permission errors
 * are 403; anything else is our fault, 500. The body never carries `err.message`, which holds
 * server paths.
 */
export function statusForFsError(err: unknown): 403 | 404 | 500 {
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
    case 'ELOOP': // a symlink cycle, or O_NOFOLLOW meeting a link: nothing servable there
    case 'ENXIO': // a Unix socket (or a FIFO without a writer): not a file
      return 404;
    case 'EACCES':
    case 'EPERM':
      return 403;
    default:
      return 500;
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** Inclusive byte positions, exactly as written in Content-Range. */
export type ByteRange = { readonly start: number; readonly end: number };

/** A request from node:http or from node:http2's compatibility API. */
export type StreamRequest = IncomingMessage | Http2ServerRequest;
/** A response from node:http or from node:http2's compatibility API. */
export type StreamResponse = ServerResponse | Http2ServerResponse;

/**
 * The parts of a response this package calls. node:http's ServerResponse and node:http2's
 * Http2ServerResponse both have them, but their overloads differ too much to call on the union.
 */
export type ResponseSink = {
  readonly headersSent: boolean;
  writeHead(statusCode: number, headers: string[]): unknown;
  removeHeader(name: string): void;
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
  end(): unknown;
  end(chunk: string): unknown;
  end(chunk: Uint8Array): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
};

/**
 * Receives failures that are ours, not the client's: read errors, truncated files, checks that
 * threw, watch-log database errors (those have no `req`).
 */
export type ErrorHook = (err: unknown, req?: StreamRequest) => void;

/** What happened to one response: enough to log who watched what. */
export type StreamOutcome = {
  /** The status sent (0 when the client left before anything was sent). */
  readonly status: number;
  /** Body bytes handed to the connection (file bytes only, not multipart framing). */
  readonly bytesSent: number;
  /** True when the client went away before the whole body was sent. */
  readonly aborted: boolean;
  /** The file's size, when it was read. */
  readonly size: number | undefined;
  /** The byte ranges a 206 served. */
  readonly ranges: readonly ByteRange[] | undefined;
};

/** Who is watching, as your `identify(req)` tells it. */
export type Viewer = { readonly userId: string | null; readonly isAuthenticated: boolean };

/** Tells who a request comes from (your session or token lookup); `null` for an anonymous viewer. */
export type IdentifyViewer = (req: StreamRequest) => Viewer | null | undefined | Promise<Viewer | null | undefined>;

/**
 * What the watch log needs to know about a request, read once when it arrived (the handler's
 * `Exchange` is one): after the response, a closed socket has no address any more.
 */
export type RequestFacts = {
  readonly method: string;
  /** The Range header as requested. */
  readonly range: string | undefined;
  readonly userAgent: string | undefined;
  /** Epoch ms. */
  readonly startedAt: number;
  /** The client's address, through `trustProxy`; resolved once. */
  ip(): string;
  /** `identify(req)`, asked once; rejects if it threw. */
  viewer(): Promise<Viewer | null | undefined>;
};

/** One streamed GET, as the handler saw it once the response ended. */
export type WatchEntry = {
  /** Relative to the served root, '/'-separated (never absolute). */
  readonly path: string;
  readonly userId: string | null;
  readonly isAuthenticated: boolean;
  readonly ip: string;
  readonly userAgent: string | null;
  /** 200 or 206: only streamed GETs are logged. */
  readonly status: number;
  /** The Range header as requested (stored truncated to 200 characters). */
  readonly range: string | null;
  /** Byte ranges actually served (a 200 serves [{ start: 0, end: size - 1 }]), in the order sent. */
  readonly ranges: readonly ByteRange[];
  /** Body bytes sent; may stop short of the ranges when the client went away. */
  readonly bytesSent: number;
  readonly aborted: boolean;
  /** The file's size. */
  readonly size: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly durationMs: number;
};

/**
 * What the handler needs of a watch log: somewhere to queue an entry and a way to close it.
 * `WatchLog` from `sage-stream/watch-log` is one; the core never imports it, so node:sqlite loads
 * only when logging is on.
 */
export type WatchRecorder = {
  record(entry: WatchEntry): void;
  close(): void;
};

/** Counts of what the player did, as totals since its page loaded (see the beacon). */
export type PlaybackEvents = {
  readonly play: number;
  readonly pause: number;
  readonly seek: number;
  readonly ended: number;
  readonly stall: number;
  readonly hidden: number;
};

/** One validated player beacon, tied to the viewer and file the stream requests have. */
export type PlaybackReport = {
  /** The file the report's media URL names, relative to root (a manifest for HLS/DASH). */
  readonly path: string;
  readonly userId: string | null;
  readonly isAuthenticated: boolean;
  readonly ip: string;
  readonly userAgent: string | null;
  /** Epoch ms, when the server received it. */
  readonly receivedAt: number;
  readonly durationSeconds: number;
  /** The playback position, seconds. */
  readonly position: number;
  /** `video.played`, merged: [start, end] seconds, each within the duration. */
  readonly played: readonly (readonly [number, number])[];
  /** Seconds spent stalled (waiting) while playing. */
  readonly rebufferSeconds: number;
  readonly events: PlaybackEvents;
};

/** A watch log that also takes player reports (`WatchLog` is one). */
export type PlaybackRecorder = WatchRecorder & {
  recordPlayback(report: PlaybackReport): void;
};

/** Which byte ranges a request workload asks for. */
export type RangeSpec =
  | { readonly kind: 'none' } // no Range header: 200 and the whole file
  | { readonly kind: 'open'; readonly start: number } // bytes=start-
  | { readonly kind: 'fixed'; readonly start: number; readonly end: number } // bytes=start-end
  | { readonly kind: 'random'; readonly length: number }; // bytes=a-(a+length-1), a uniform

/** Where the load goes: one file of a server on loopback. */
export type Target = {
  readonly port: number;
  /** The URL path of the bench file, e.g. `/f/data-268435456.bin`. */
  readonly path: string;
  readonly fileSize: number;
  /** A user's file (`--file`): check bodies against its bytes instead of the bench pattern. */
  readonly check?: string;
};

/** Keep-alive connections sending one request after another for a while. */
export type RequestJob = Target & {
  readonly kind: 'requests';
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The run stops early once this many responses were counted. */
  readonly maxRequests: number;
  readonly range: RangeSpec;
  readonly seed: number;
  /**
   * When the duration is up and nothing was counted yet (no response for a req/s figure, no
   * byte for MB/s), the run goes on until something is, for at most 9 more durations: on a
   * starved machine a 100 ms run may otherwise measure 0.
   */
  readonly unit: 'responses' | 'bytes';
};

/** Clients that each read `bytesPerTick` every `tickMs`, then all leave at once. */
export type SlowJob = Target & {
  readonly kind: 'slow';
  readonly clients: number;
  readonly durationMs: number;
  readonly bytesPerTick: number;
  readonly tickMs: number;
};

/** Requests for the whole file, each dropped on its first chunk. */
export type AbortJob = Target & {
  readonly kind: 'abort';
  readonly total: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
};

export type LoadJob = RequestJob | SlowJob | AbortJob;

/** Error messages and how often each was seen (the first few distinct ones). */
export type ErrorCounts = Readonly<Record<string, number>>;

export type RequestResult = {
  readonly kind: 'requests';
  readonly client: 'node' | 'wrk';
  readonly elapsedMs: number;
  /** Responses received whole and checked, after the warm-up. */
  readonly completed: number;
  /** Responses still arriving when the run ended, right so far (head checked, bytes checked). */
  readonly cutOff: number;
  /** Body bytes received after the warm-up, including responses cut off at the end. */
  readonly bodyBytes: number;
  readonly errors: number;
  readonly errorSamples: ErrorCounts;
  readonly p50Ms: number;
  readonly p99Ms: number;
};

export type SlowResult = {
  readonly kind: 'slow';
  readonly clients: number;
  /** Clients whose status line and headers were right. */
  readonly ok: number;
  readonly bodyBytes: number;
  readonly elapsedMs: number;
  readonly errors: number;
  readonly errorSamples: ErrorCounts;
};

export type AbortResult = {
  readonly kind: 'abort';
  readonly attempted: number;
  /** Requests whose first chunk began with the expected status line. */
  readonly ok: number;
  readonly elapsedMs: number;
  readonly errors: number;
  readonly errorSamples: ErrorCounts;
};

export type LoadResult = RequestResult | SlowResult | AbortResult;

/** What the load process prints, one JSON object per line. */
export type LoadMessage =
  | { readonly progress: { readonly elapsedMs: number; readonly done: number; readonly errors: number } }
  | { readonly result: LoadResult };

/** The first stdout line of a server process. */
export type ServerReady = { readonly port: number; readonly pids: readonly number[] };

/** A Node server's event-loop delay (bench/servers/common.ts), from monitorEventLoopDelay. */
export type EventLoopDelay = { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from './find-tool.ts';

// Headless Chromium driven over the Chrome DevTools Protocol with Node's own WebSocket: no
// puppeteer or playwright, so the package keeps its short devDependency list. One WebSocket to the
// browser carries every page's session (Target.attachToTarget with flatten: true).

/** Where Debian, Ubuntu and the upstream packages put the binary; SAGE_STREAM_CHROMIUM overrides. */
const CANDIDATE_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

const FLAGS = [
  '--headless',
  '--no-sandbox', // CI containers run as root, where the sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--mute-audio',
];

const DEVTOOLS_URL = /DevTools listening on (ws:\/\/\S+)/;
/** Containers have no D-Bus, and Chromium says so a dozen times: kept out of error messages. */
const DBUS_NOISE = /^.*ERROR:dbus\/.*\n?/gm;
const DEFAULT_LAUNCH_TIMEOUT_MS = 15_000;
const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** How long a CDP call that awaits a page promise may outlive that promise's own timeout. */
const CALL_GRACE_MS = 2_000;
const STDERR_TAIL_CHARS = 4_000;
const MAX_MESSAGES = 500;

/**
 * The Chromium binary to launch: exactly SAGE_STREAM_CHROMIUM when set (a path that does not
 * exist simulates a machine without Chromium), else the first of the usual names on PATH.
 * Undefined when there is none.
 */
export function findChromium(): string | undefined {
  return findTool('SAGE_STREAM_CHROMIUM', CANDIDATE_NAMES);
}


/** Something the page said or suffered: a console call, a browser log entry, an exception, a failed request. */
export type PageMessage = {
  readonly source: 'console' | 'log' | 'exception' | 'network';
  readonly level: string;
  readonly text: string;
};

export type EvaluateOptions = {
  /** Wait for the returned promise and give its value (default true). */
  readonly awaitPromise?: boolean;
  /** Default 10 s; a promise still pending then fails the call. */
  readonly timeoutMs?: number;
  /** Arguments for a function, passed as JSON. */
  readonly args?: readonly unknown[];
};

export type WaitOptions = {
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Re-check the condition whenever one of these events fires on `target` (no polling then). */
  readonly events?: readonly string[];
  /** An expression for the event target; default `window`. */
  readonly target?: string;
  /** Re-check every this many ms; default 50 without `events`, 0 (never) with them. */
  readonly pollMs?: number;
};

export type Page = {
  /** Navigates and resolves on the load event; rejects on a navigation error or timeout. */
  goto(url: string, options?: { readonly timeoutMs?: number }): Promise<void>;
  /**
   * Evaluates an expression, or calls a function (its source is sent, so it sees only the
   * page's globals and `args`), and returns the result by value.
   */
  evaluate<T = unknown>(code: string | ((...args: never[]) => unknown), options?: EvaluateOptions): Promise<T>;
  /**
   * Resolves with the first truthy value of `condition` (an expression or a function), checked
   * inside the page at once and then on each of `events` (or by polling). A condition that throws
   * rejects at once, so it can turn a player error into a failure instead of a timeout.
   */
  waitFor<T = unknown>(condition: string | (() => unknown), options?: WaitOptions): Promise<T>;
  /** Everything collected so far, oldest first (capped at 500). */
  messages(): readonly PageMessage[];
  /** The messages as lines, for an assertion message: why a page did not do what it should. */
  report(): string;
  close(): Promise<void>;
};

export type Browser = {
  readonly path: string;
  /** e.g. `Chrome/142.0.7444.59` (Browser.getVersion's product). */
  readonly version: string;
  newPage(): Promise<Page>;
  /** Kills Chromium and every process it started, and removes its profile folder. */
  close(): Promise<void>;
};

export type LaunchOptions = {
  /** Default: findChromium(). */
  readonly path?: string;
  readonly launchTimeoutMs?: number;
  /** The timeout of each CDP call that does not name its own. */
  readonly callTimeoutMs?: number;
  /** Extra command-line flags. */
  readonly args?: readonly string[];
};

type CdpParams = Record<string, unknown>;
type CdpMessage = {
  readonly id?: number;
  readonly method?: string;
  readonly params?: CdpParams;
  readonly result?: CdpParams;
  readonly error?: { readonly message: string; readonly code: number };
  readonly sessionId?: string;
};
type EventListener = (method: string, params: CdpParams) => void;

type Connection = {
  send(method: string, params?: CdpParams, sessionId?: string, timeoutMs?: number): Promise<CdpParams>;
  /** Listens to the events of one session ('' for the browser's own); returns the unsubscribe. */
  listen(sessionId: string, listener: EventListener): () => void;
  /** Rejects every pending and future call with `reason` (Chromium died, or was closed). */
  fail(reason: Error): void;
  close(): void;
};

// Each Chromium still running and its profile folder: killed and removed however this process exits.
const running = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, profile] of running) {
    killGroup(child);
    rmSync(profile, { recursive: true, force: true });
  }
});

/**
 * Launches headless Chromium with a fresh temporary profile and connects to it over the
 * DevTools Protocol. Rejects with Chromium's stderr when it exits or says nothing in time.
 * @example
 * const browser = await launchBrowser();
 * const page = await browser.newPage();
 * await page.goto('http://127.0.0.1:8080/');
 * await page.waitFor('document.querySelector("video").readyState >= 1', { events: ['loadedmetadata'], target: 'document.querySelector("video")' });
 * await browser.close();
 */
export async function launchBrowser(options: LaunchOptions = {}): Promise<Browser> {
  const path = options.path ?? findChromium();
  if (path === undefined) throw new Error('Chromium not found (install Debian\'s chromium package, or set SAGE_STREAM_CHROMIUM)');
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const profile = mkdtempSync(join(tmpdir(), 'sage-stream-chromium-'));
  const args = [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-port=0', ...(options.args ?? []), 'about:blank'];
  // Its own process group, so close() can also end the helpers (zygote, crashpad) it started.
  const env = { ...process.env, TMPDIR: profile }; // its shared-memory files too (Debian's --disable-dev-shm-usage)
  const child = spawn(path, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
  running.set(child, profile);

  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text.replace(DBUS_NOISE, '')).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<Error>((resolve) => {
    child.once('error', (err) => resolve(new Error(`Chromium (${path}) did not start: ${err.message}`)));
    child.once('exit', (code, signal) => resolve(new Error(`Chromium exited (${signal ?? `code ${code}`}); its stderr ended with:\n${stderr}`)));
  });
  const removeProfile = (): void => {
    running.delete(child);
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
  };
  // SIGKILL to the whole group: nothing in a throwaway profile is worth a graceful shutdown, and
  // with TMPDIR inside the profile, removing it leaves nothing behind.
  const stop = async (): Promise<void> => {
    killGroup(child);
    await exited;
    removeProfile();
  };

  let connection: Connection;
  let version: string;
  try {
    const url = await readDevToolsUrl(child, exited, options.launchTimeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS, () => stderr);
    connection = await connect(url, callTimeoutMs);
    version = String((await connection.send('Browser.getVersion'))['product'] ?? 'unknown');
  } catch (err) {
    await stop();
    throw err;
  }
  void exited.then((reason) => connection.fail(reason));

  let closed = false;
  return {
    path,
    version,
    newPage: () => openPage(connection, callTimeoutMs),
    async close() {
      if (closed) return;
      closed = true;
      connection.close();
      await stop();
    },
  };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function readDevToolsUrl(child: ChildProcess, exited: Promise<Error>, timeoutMs: number, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`Chromium printed no DevTools URL within ${timeoutMs} ms; its stderr:\n${stderr()}`));
    }, timeoutMs);
    const onData = (): void => {
      const url = DEVTOOLS_URL.exec(stderr())?.[1];
      if (url === undefined) return;
      finish();
      resolve(url);
    };
    const finish = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
    };
    child.stderr?.on('data', onData);
    void exited.then((reason) => {
      finish();
      reject(reason);
    });
  });
}

async function connect(url: string, callTimeoutMs: number): Promise<Connection> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no WebSocket connection to ${url} within ${callTimeoutMs} ms`)), callTimeoutMs);
    socket.addEventListener('open', () => (clearTimeout(timer), resolve()), { once: true });
    socket.addEventListener('error', () => (clearTimeout(timer), reject(new Error(`WebSocket connection to ${url} failed`))), { once: true });
  });

  type Pending = { resolve(result: CdpParams): void; reject(err: Error): void; timer: NodeJS.Timeout };
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<EventListener>>();
  let nextId = 1;
  let failure: Error | undefined;

  const fail = (reason: Error): void => {
    failure ??= reason;
    for (const call of pending.values()) {
      clearTimeout(call.timer);
      call.reject(failure);
    }
    pending.clear();
  };
  socket.addEventListener('message', (event: MessageEvent) => {
    const message = JSON.parse(String(event.data)) as CdpMessage;
    if (message.id !== undefined) {
      const call = pending.get(message.id);
      if (call === undefined) return;
      pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) call.reject(new Error(`${message.error.message} (CDP ${message.error.code})`));
      else call.resolve(message.result ?? {});
    } else if (message.method !== undefined) {
      for (const listener of listeners.get(message.sessionId ?? '') ?? []) listener(message.method, message.params ?? {});
    }
  });
  socket.addEventListener('close', () => fail(new Error('the DevTools connection closed')));

  return {
    send(method, params = {}, sessionId, timeoutMs = callTimeoutMs) {
      if (failure) return Promise.reject(new Error(`${method}: ${failure.message}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer from Chromium within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject: (err) => reject(new Error(`${method}: ${err.message}`)), timer });
        socket.send(JSON.stringify(sessionId === undefined ? { id, method, params } : { id, method, params, sessionId }));
      });
    },
    listen(sessionId, listener) {
      const set = listeners.get(sessionId) ?? new Set();
      listeners.set(sessionId, set);
      set.add(listener);
      return () => void set.delete(listener);
    },
    fail,
    close: () => socket.close(),
  };
}

async function openPage(connection: Connection, callTimeoutMs: number): Promise<Page> {
  const { targetId } = (await connection.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
  const { sessionId } = (await connection.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  const messages: PageMessage[] = [];
  const requestUrls = new Map<string, string>();
  let crashed: Error | undefined;
  const record = (message: PageMessage): void => {
    messages.push(message);
    if (messages.length > MAX_MESSAGES) messages.shift();
  };
  connection.listen(sessionId, (method, params) => {
    const entry = describeEvent(method, params, requestUrls);
    if (entry !== undefined) record(entry);
    if (method === 'Inspector.targetCrashed') crashed = new Error('the page crashed');
  });
  const send = (method: string, params?: CdpParams, timeoutMs?: number): Promise<CdpParams> =>
    crashed ? Promise.reject(new Error(`${method}: ${crashed.message}`)) : connection.send(method, params, sessionId, timeoutMs);
  await Promise.all(['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable', 'Inspector.enable'].map((method) => send(method)));

  const report = (): string =>
    messages.length === 0 ? '(the page logged nothing)' : messages.map((m) => `[${m.source} ${m.level}] ${m.text}`).join('\n');

  const evaluate = async <T>(code: string | ((...args: never[]) => unknown), options: EvaluateOptions = {}): Promise<T> => {
    const { awaitPromise = true, timeoutMs = callTimeoutMs, args = [] } = options;
    const expression = typeof code === 'string' ? code : callExpression(code, args);
    const result = (await send('Runtime.evaluate', { expression, awaitPromise, returnByValue: true }, timeoutMs + CALL_GRACE_MS)) as {
      result?: { value?: unknown };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (result.exceptionDetails) {
      const details = result.exceptionDetails;
      const why = (details.exception?.description ?? details.text ?? 'an exception').replace(/^Error: /, '');
      throw new Error(`${why}\npage messages:\n${report()}`);
    }
    return result.result?.value as T;
  };

  return {
    async goto(url, { timeoutMs = callTimeoutMs } = {}) {
      let unsubscribe = (): void => {};
      const loaded = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${url} did not finish loading within ${timeoutMs} ms\n${report()}`)), timeoutMs);
        unsubscribe = connection.listen(sessionId, (method) => {
          if (method === 'Page.loadEventFired') (clearTimeout(timer), resolve());
        });
      });
      try {
        const { errorText } = (await send('Page.navigate', { url }, timeoutMs)) as { errorText?: string };
        if (errorText) throw new Error(`navigating to ${url} failed: ${errorText}`);
        await loaded;
      } finally {
        unsubscribe();
        loaded.catch(() => {});
      }
    },
    evaluate,
    waitFor<T>(condition: string | (() => unknown), options: WaitOptions = {}) {
      const timeoutMs = options.timeoutMs ?? callTimeoutMs;
      const events = options.events ?? [];
      return evaluate<T>(waitExpression(condition, events, options.target ?? 'window', options.pollMs ?? (events.length > 0 ? 0 : 50), timeoutMs), {
        timeoutMs,
      });
    },
    messages: () => [...messages],
    report,
    close: async () => {
      await connection.send('Target.closeTarget', { targetId });
    },
  };
}

/**
 * The expression that calls `fn(...args)` in the page. tsx (esbuild with keepNames) puts
 * `__name(fn, "name")` calls into function sources; the page gets a `__name` that does nothing.
 */
function callExpression(fn: (...args: never[]) => unknown, args: readonly unknown[]): string {
  return `((__name) => (${fn.toString()})(...${JSON.stringify(args)}))((f) => f)`;
}

/** A promise, inside the page, for the first truthy value of `condition`; it rejects on its own timeout. */
function waitExpression(condition: string | (() => unknown), events: readonly string[], target: string, pollMs: number, timeoutMs: number): string {
  const check = typeof condition === 'string' ? `() => (${condition})` : `((__name) => (${condition.toString()}))((f) => f)`;
  const label = JSON.stringify(typeof condition === 'string' ? condition : condition.toString());
  return `new Promise((resolve, reject) => {
  const condition = ${check};
  const target = (${target});
  const events = ${JSON.stringify(events)};
  let last, timer, poll, done = false;
  const finish = () => {
    done = true;
    clearTimeout(timer);
    clearInterval(poll);
    for (const type of events) target.removeEventListener(type, check);
  };
  const check = () => {
    if (done) return;
    let value;
    try { value = condition(); } catch (err) { finish(); reject(err); return; }
    last = value;
    if (value) { finish(); resolve(value); }
  };
  timer = setTimeout(() => {
    finish();
    let shown;
    try { shown = JSON.stringify(last); } catch { shown = String(last); }
    reject(new Error('timed out after ${timeoutMs} ms waiting for ' + ${label} + ' (last value: ' + shown + ')'));
  }, ${timeoutMs});
  if (${pollMs} > 0) poll = setInterval(check, ${pollMs});
  for (const type of events) target.addEventListener(type, check);
  check();
})`;
}

type RemoteObject = { readonly type?: string; readonly value?: unknown; readonly description?: string; readonly unserializableValue?: string };

/** One CDP event as a PageMessage, or undefined for events that say nothing worth keeping. */
function describeEvent(method: string, params: CdpParams, requestUrls: Map<string, string>): PageMessage | undefined {
  switch (method) {
    case 'Runtime.consoleAPICalled': {
      const args = (params['args'] ?? []) as readonly RemoteObject[];
      return { source: 'console', level: String(params['type']), text: args.map(formatRemoteObject).join(' ') };
    }
    case 'Runtime.exceptionThrown': {
      const details = params['exceptionDetails'] as { text?: string; url?: string; exception?: RemoteObject };
      return { source: 'exception', level: 'error', text: details.exception?.description ?? `${details.text ?? 'exception'} ${details.url ?? ''}` };
    }
    case 'Log.entryAdded': {
      const entry = params['entry'] as { source: string; level: string; text: string; url?: string };
      return { source: 'log', level: entry.level, text: `${entry.source}: ${entry.text}${entry.url ? ` (${entry.url})` : ''}` };
    }
    case 'Network.requestWillBeSent': {
      const request = params['request'] as { url: string };
      requestUrls.set(String(params['requestId']), request.url);
      return undefined;
    }
    case 'Network.responseReceived': {
      const response = params['response'] as { url: string; status: number; statusText: string };
      if (response.status < 400) return undefined;
      return { source: 'network', level: 'warning', text: `${response.status} ${response.statusText} ${response.url}` };
    }
    case 'Network.loadingFailed': {
      const url = requestUrls.get(String(params['requestId'])) ?? '(unknown url)';
      const cors = params['corsErrorStatus'] as { corsError: string; failedParameter: string } | undefined;
      const blocked = params['blockedReason'] === undefined ? '' : ` blocked: ${String(params['blockedReason'])}`;
      const why = `${String(params['errorText'])}${cors ? ` CORS: ${cors.corsError}${cors.failedParameter ? ` (${cors.failedParameter})` : ''}` : ''}${blocked}`;
      // Players cancel requests on every seek; those are noise, not failures.
      return { source: 'network', level: params['canceled'] === true ? 'verbose' : 'error', text: `${why} ${url}` };
    }
    case 'Inspector.targetCrashed':
      return { source: 'exception', level: 'error', text: 'the page crashed (Inspector.targetCrashed)' };
    default:
      return undefined;
  }
}

function formatRemoteObject(object: RemoteObject): string {
  if (object.value !== undefined) return typeof object.value === 'string' ? object.value : JSON.stringify(object.value);
  return object.description ?? object.unserializableValue ?? object.type ?? '?';
}

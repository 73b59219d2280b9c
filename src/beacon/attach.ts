// The player beacon. This one function is both the module bundlers import (`sage-stream/beacon`)
// and, through its source text, the script the handler serves at /_sage/beacon.js, so it must run
// in a browser as compiled: no imports, and no named inner functions or arrow constants (a
// transpiler's keepNames would wrap those in a helper the browser lacks; methods keep their names
// without one). The test "the served beacon script is self-contained" pins that.

/** The parts of an HTMLMediaElement the beacon reads. */
export type BeaconMedia = {
  readonly currentTime: number;
  readonly duration: number;
  readonly paused: boolean;
  readonly seeking: boolean;
  readonly currentSrc: string;
  readonly played: { readonly length: number; start(index: number): number; end(index: number): number };
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
};

/** Options for {@link attachBeacon}. */
export type BeaconOptions = {
  /**
   * The media URL the stream handler served (its path and query are reported, so a signed link
   * is verified again). Default `video.currentSrc`; hls.js and dash.js play from a `blob:` URL,
   * so pass the manifest URL there.
   */
  readonly src?: string | undefined;
  /** Where reports go. Default: `/_sage/beacon` on the media URL's origin. */
  readonly endpoint?: string | undefined;
  /** While playing, report this often. Default 10 000 ms. */
  readonly intervalMs?: number | undefined;
};

/** What {@link attachBeacon} returns: `report()` sends now, `detach()` stops listening. */
export type Beacon = { report(reason: string): boolean; detach(): void };

/**
 * Attaches the player beacon to a `<video>`: it reports `video.played`, the duration, the
 * position, rebuffer time and event counts as JSON (text/plain, so a cross-origin beacon needs
 * no preflight) with `navigator.sendBeacon`, or `fetch(…, { keepalive: true })` where that is
 * missing: every ~10 s while playing, and on pause, seeked, ended, pagehide and when the page is
 * hidden. Reports hold totals since the page loaded, so a lost one costs nothing.
 *
 * @example
 * import { attachBeacon } from 'sage-stream/beacon';
 * const hls = new Hls(); hls.loadSource(url); hls.attachMedia(video);
 * attachBeacon(video, { src: url });
 */
export function attachBeacon(video: BeaconMedia, options: BeaconOptions = {}): Beacon {
  const g = globalThis as unknown as {
    readonly location: { readonly href: string };
    readonly navigator: { sendBeacon?(url: string, body: string): boolean };
    readonly document: {
      readonly visibilityState: string;
      addEventListener(type: string, listener: () => void): void;
      removeEventListener(type: string, listener: () => void): void;
    };
    fetch(url: string, init: Record<string, unknown>): Promise<unknown>;
    addEventListener(type: string, listener: () => void): void;
    removeEventListener(type: string, listener: () => void): void;
    setInterval(callback: () => void, ms: number): unknown;
    clearInterval(id: unknown): void;
  };
  const state = {
    events: { play: 0, pause: 0, seek: 0, ended: 0, stall: 0, hidden: 0 },
    stalledSince: -1,
    rebufferMs: 0,
    timer: undefined as unknown,
  };
  const self = {
    media(): URL | undefined {
      const src = options.src ?? video.currentSrc;
      if (src === '' || src.startsWith('blob:')) return undefined;
      return new URL(src, g.location.href);
    },
    played(): number[][] {
      const out: number[][] = [];
      const duration = video.duration;
      for (let i = 0; i < video.played.length && out.length < 64; i++) {
        const start = Math.max(0, video.played.start(i));
        const end = Math.min(duration, video.played.end(i));
        if (end > start) out.push([Math.round(start * 1000) / 1000, Math.round(end * 1000) / 1000]);
      }
      return out;
    },
    report(reason: string): boolean {
      const media = self.media();
      const duration = video.duration;
      if (media === undefined || !Number.isFinite(duration) || duration <= 0) return false;
      const stalled = state.stalledSince >= 0 ? Date.now() - state.stalledSince : 0;
      const body = JSON.stringify({
        v: 1,
        src: media.pathname + media.search,
        duration: Math.round(duration * 1000) / 1000,
        position: Math.round(Math.min(Math.max(0, video.currentTime), duration) * 1000) / 1000,
        played: self.played(),
        rebuffer: Math.round(state.rebufferMs + stalled) / 1000,
        events: state.events,
        reason,
      });
      const endpoint = options.endpoint ?? new URL('/_sage/beacon', media).href;
      if (typeof g.navigator.sendBeacon === 'function' && g.navigator.sendBeacon(endpoint, body)) return true;
      g.fetch(endpoint, { method: 'POST', body, keepalive: true, mode: 'no-cors', credentials: 'include' }).catch(function () {});
      return true;
    },
    stallEnd(): void {
      if (state.stalledSince >= 0) state.rebufferMs += Date.now() - state.stalledSince;
      state.stalledSince = -1;
    },
    onPlay(): void {
      state.events.play++;
      g.clearInterval(state.timer);
      state.timer = g.setInterval(function () {
        if (!video.paused) self.report('interval');
      }, options.intervalMs ?? 10_000);
    },
    onPlaying(): void {
      self.stallEnd();
    },
    onWaiting(): void {
      // A wait after a seek is the seek's cost, not a stall of playback.
      if (state.stalledSince < 0 && !video.paused && !video.seeking) {
        state.events.stall++;
        state.stalledSince = Date.now();
      }
    },
    onPause(): void {
      self.stallEnd();
      g.clearInterval(state.timer);
      state.events.pause++;
      self.report('pause');
    },
    onSeeked(): void {
      state.events.seek++;
      self.report('seeked');
    },
    onEnded(): void {
      g.clearInterval(state.timer);
      state.events.ended++;
      self.report('ended');
    },
    onPageHide(): void {
      self.report('pagehide');
    },
    onVisibility(): void {
      if (g.document.visibilityState !== 'hidden') return;
      state.events.hidden++;
      self.report('hidden');
    },
    detach(): void {
      g.clearInterval(state.timer);
      for (const [type, listener] of listeners) video.removeEventListener(type, listener);
      g.removeEventListener('pagehide', self.onPageHide);
      g.document.removeEventListener('visibilitychange', self.onVisibility);
    },
  };
  const listeners: [string, () => void][] = [
    ['play', self.onPlay],
    ['playing', self.onPlaying],
    ['waiting', self.onWaiting],
    ['pause', self.onPause],
    ['seeked', self.onSeeked],
    ['ended', self.onEnded],
  ];
  for (const [type, listener] of listeners) video.addEventListener(type, listener);
  g.addEventListener('pagehide', self.onPageHide);
  g.document.addEventListener('visibilitychange', self.onVisibility);
  return { report: self.report, detach: self.detach };
}

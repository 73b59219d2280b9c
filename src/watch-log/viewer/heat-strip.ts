import { html, type SafeHtml } from './html.ts';
import type { HeatStrip } from '../watch-log.ts';

const WIDTH = 200;
const HEIGHT = 14;

/**
 * An inline SVG of how many sessions played each slice of a video's timeline (from
 * `WatchLog.heat`): darker is more sessions, so drop-offs and rewatched parts show at a glance.
 * Made on the server with no dependencies; every value goes through the `html` tag, and the
 * numbers are formatted here, so nothing from the log reaches the markup unescaped.
 */
export function renderHeatStrip(heat: HeatStrip): SafeHtml {
  const max = Math.max(0, ...heat.counts);
  if (max === 0 || heat.durationSeconds === null) return html`<span class="muted">no beacon</span>`;
  const width = WIDTH / heat.counts.length;
  const cells = heat.counts.map((count, i) => {
    const from = (heat.durationSeconds! * i) / heat.counts.length;
    const title = `${formatClock(from)}: ${count} of ${heat.sessions} sessions`;
    const opacity = count === 0 ? 0 : 0.15 + (0.85 * count) / max;
    return html`<rect x="${(i * width).toFixed(2)}" y="0" width="${width.toFixed(2)}" height="${HEIGHT}" fill="#2f7de1" fill-opacity="${opacity.toFixed(3)}"><title>${title}</title></rect>`;
  });
  const label = `Sessions per part of ${heat.path}, peak ${max}`;
  return html`<svg class="heat" role="img" aria-label="${label}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}"><rect width="${WIDTH}" height="${HEIGHT}" fill="#e3e6ea"></rect>${cells}</svg>`;
}

/** m:ss or h:mm:ss. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

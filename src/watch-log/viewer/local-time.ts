import { createHash } from 'node:crypto';
import { SafeHtml } from './html.ts';

// Shows every <time datetime> in the browser's own zone; the ISO text stays as its tooltip, and
// without script the page still reads, in UTC. A constant, so the CSP allows it by hash.
const SCRIPT = `for (const t of document.querySelectorAll('time[datetime]')) {
  const d = new Date(t.dateTime);
  if (Number.isNaN(d.getTime())) continue;
  t.title = t.dateTime;
  t.textContent = d.toLocaleString();
}`;

/** The script element, for the end of the body. */
export const LOCAL_TIME_SCRIPT: SafeHtml = new SafeHtml(`<script>${SCRIPT}</script>`);

/** The CSP source that allows exactly that script. */
export const LOCAL_TIME_SCRIPT_SRC: string = `'sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}'`;

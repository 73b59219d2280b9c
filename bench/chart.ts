import type { BenchMeta, SummaryRow } from './report.ts';

const WIDTH = 760;
const LABEL_WIDTH = 120;
const VALUE_WIDTH = 70;
const BAR_HEIGHT = 14;
const ROW_GAP = 4;
const GROUP_GAP = 26;
const TOP = 54;
const COLORS: Readonly<Record<string, string>> = {
  sage: '#2f6fd0',
  send: '#7a7a7a',
  sirv: '#9a7ac8',
  'fastify-send': '#c88a3a',
  ceiling: '#3a9a5a',
  naive: '#b85450',
  nginx: '#444444',
};

/** The chart's second line: machine, load, date and command of the run. */
export function chartSubtitle(meta: BenchMeta): string {
  return `${meta.node}, ${meta.cpus} CPUs, ${meta.platform}, load average ${meta.loadAverage.split(' (')[0] ?? ''}; ${meta.startedAt.slice(0, 16).replace('T', ' ')} UTC; ${meta.command}`;
}

/** Text for an SVG text node or attribute: the five XML specials escaped. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** The ratio to send of one row: 1 for send itself, the same-round median otherwise. */
function ratioToSend(row: SummaryRow): number | undefined {
  if (row.server === 'send') return row.value === undefined ? undefined : 1;
  return row.ratios.find((r) => r.against === 'send')?.median;
}

/**
 * A horizontal bar chart of every request scenario's same-round ratios to `send`, on a log scale
 * (1× marked), one group per scenario: hand-written SVG, no dependencies, every label escaped.
 * A server whose responses failed a check is drawn hatched-red with "failed".
 */
export function ratioChart(rows: readonly SummaryRow[], subtitle: string): string {
  const speed = rows.filter((r) => r.metric !== 'memory' && r.scenario !== 'cluster');
  const scenarios = [...new Set(speed.map((r) => r.scenario))];
  const ratios = speed.map(ratioToSend).filter((v): v is number => v !== undefined && v > 0);
  const low = Math.min(0.25, 2 ** Math.floor(Math.log2(Math.min(...ratios, 1))));
  const high = Math.max(4, 2 ** Math.ceil(Math.log2(Math.max(...ratios, 1))));
  const plotLeft = LABEL_WIDTH;
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const x = (v: number): number => plotLeft + (plotWidth * (Math.log2(v) - Math.log2(low))) / (Math.log2(high) - Math.log2(low));
  const body: string[] = [];
  let y = TOP;
  for (const id of scenarios) {
    const group = speed.filter((r) => r.scenario === id);
    const first = group[0];
    if (first === undefined) continue;
    body.push(`<text x="8" y="${y + 12}" font-weight="bold">${escapeXml(`${first.number}. ${first.title}`)}</text>`);
    y += 18;
    for (const row of group) {
      const ratio = ratioToSend(row);
      const failed = row.errors > 0;
      body.push(`<text x="${LABEL_WIDTH - 6}" y="${y + 11}" text-anchor="end">${escapeXml(row.server)}</text>`);
      if (ratio !== undefined && ratio > 0) {
        // Bars grow from 1× (send): right is faster than send, left slower.
        const end = x(Math.min(high, Math.max(low, ratio)));
        const one = x(1);
        const fill = failed ? 'url(#failed)' : (COLORS[row.server] ?? '#888888');
        body.push(`<rect x="${Math.min(one, end).toFixed(1)}" y="${y}" width="${Math.max(1, Math.abs(end - one)).toFixed(1)}" height="${BAR_HEIGHT}" fill="${fill}"/>`);
        const label = `${ratio.toFixed(2)}×${failed ? ' failed' : ''}`;
        body.push(`<text x="${(Math.max(one, end) + 4).toFixed(1)}" y="${y + 11}">${escapeXml(label)}</text>`);
      } else {
        body.push(`<text x="${plotLeft + 4}" y="${y + 11}" fill="#888888">${escapeXml(failed ? 'failed' : 'n/a')}</text>`);
      }
      y += BAR_HEIGHT + ROW_GAP;
    }
    y += GROUP_GAP - ROW_GAP;
  }
  const height = y + 8;
  const ticks: string[] = [];
  for (let v = low; v <= high; v *= 2) {
    const tx = x(v).toFixed(1);
    ticks.push(
      `<line x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${height - 12}" stroke="${v === 1 ? '#222222' : '#dddddd'}"${v === 1 ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${tx}" y="${TOP - 10}" text-anchor="middle" fill="#555555">${escapeXml(`${v < 1 ? v.toString() : v.toFixed(0)}×`)}</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    '<defs><pattern id="failed" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4cccc"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cc0000" stroke-width="3"/></pattern></defs>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${escapeXml('Throughput relative to send (same round, median; log scale; higher is better)')}</text>`,
    `<text x="8" y="34" fill="#555555">${escapeXml(subtitle)}</text>`,
    ...ticks,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

import type { SlowResult, AbortResult, RequestResult, ErrorCounts } from './protocol.ts';
import type { BenchConfig, Metric, Scenario, ScenarioId } from './scenarios.ts';
import type { RunRecord } from './suite.ts';

/** What the first lines of the report say about the run. */
export type BenchMeta = {
  readonly command: string;
  readonly startedAt: string;
  readonly node: string;
  readonly cpus: number;
  readonly platform: string;
  readonly file: { readonly path: string; readonly size: number; readonly created: boolean; readonly own?: boolean };
  readonly pageCache: string;
  readonly client: string;
  readonly nginx: string;
  /** How the sage server ran: compiled like a user's install, or src/ through type stripping (--src). */
  readonly sage: string;
  readonly memory: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  readonly loadAverage: string;
};

/** Median and spread of one figure over the repetitions. */
export type Spread = { readonly median: number; readonly min: number; readonly max: number; readonly values: readonly number[] };

export type Ratio = { readonly against: string } & Spread;

/** One scenario × server, over all repetitions. */
export type SummaryRow = {
  readonly scenario: ScenarioId;
  readonly number: string;
  readonly title: string;
  readonly metric: Metric;
  readonly server: string;
  readonly client: string;
  readonly reps: number;
  /** MB/s (10^6 bytes) or req/s; undefined for the memory scenarios. */
  readonly value: Spread | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** This server's figure over the reference's, taken within each repetition. */
  readonly ratios: readonly Ratio[];
  /** Responses (or clients, or aborts) that passed every check. */
  readonly checked: number;
  /** Responses cut off by the end of a run, right as far as they went (request scenarios). */
  readonly cutOff: number;
  readonly errors: number;
  readonly errorSamples: ErrorCounts;
  readonly memory: MemoryFigures | undefined;
  /** Median event-loop delay p99 during the load (cold-cache scenario, Node servers). */
  readonly eventLoopP99Ms: number | undefined;
  readonly notes: readonly string[];
};

/** Medians over the repetitions; RSS in MiB, fds counted. */
export type MemoryFigures = {
  readonly rssBeforeMiB: number;
  readonly rssPeakMiB: number;
  readonly rssAfterMiB: number;
  readonly fdsBefore: number;
  readonly fdsPeak: number;
  readonly fdsAfter: number;
};

const MIB = 1024 * 1024;

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length === 0 ? 0 : sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, values };
}

/** The scenario's figure for one run: MB/s or req/s. */
function figure(record: RunRecord, metric: Metric): number | undefined {
  const result = record.result;
  if (result.kind !== 'requests' || result.elapsedMs <= 0) return undefined;
  return metric === 'MB/s' ? result.bodyBytes / result.elapsedMs / 1000 : result.completed / (result.elapsedMs / 1000);
}

function checkedCount(result: RequestResult | SlowResult | AbortResult): number {
  return result.kind === 'requests' ? result.completed : result.ok;
}

/** Which servers a server is compared with, within the same repetition. */
function referencesFor(scenario: Scenario, server: string, servers: readonly string[]): string[] {
  if (scenario.servers === 'cluster') return server === servers[0] ? [] : servers.slice(0, 1);
  return REFERENCES.filter((name) => name !== server && servers.includes(name));
}

/** What every other server is compared with: what users pick instead, and Node's own limit. */
export const REFERENCES: readonly string[] = ['send', 'ceiling'];

function mergeErrors(records: readonly RunRecord[]): ErrorCounts {
  const merged: Record<string, number> = {};
  for (const record of records) {
    for (const [message, count] of Object.entries(record.result.errorSamples)) merged[message] = (merged[message] ?? 0) + count;
  }
  return merged;
}

/** Medians, spreads and same-round ratios of every scenario × server. */
export function summarise(records: readonly RunRecord[], scenarios: readonly Scenario[], config: BenchConfig): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const scenario of scenarios) {
    const mine = records.filter((r) => r.scenario === scenario.id);
    const servers = [...new Set(mine.map((r) => r.server))];
    const order = scenario.servers === 'cluster' ? servers.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) : servers;
    for (const server of order) {
      const runs = mine.filter((r) => r.server === server);
      const values = runs.map((r) => figure(r, scenario.metric)).filter((v) => v !== undefined);
      const ratios: Ratio[] = referencesFor(scenario, server, order).flatMap((against) => {
        const perRep = runs.flatMap((run) => {
          const ref = mine.find((r) => r.server === against && r.rep === run.rep);
          const a = figure(run, scenario.metric);
          const b = ref === undefined ? undefined : figure(ref, scenario.metric);
          return a === undefined || b === undefined || b === 0 ? [] : [a / b];
        });
        return perRep.length === 0 ? [] : [{ against, ...spread(perRep) }];
      });
      const eventLoops = runs.flatMap((r) => (r.eventLoop === undefined ? [] : [r.eventLoop.p99Ms]));
      const requestResults = runs.map((r) => r.result).filter((r) => r.kind === 'requests');
      const timed = requestResults.filter((r) => r.completed > 0);
      const memory: MemoryFigures | undefined =
        scenario.metric !== 'memory'
          ? undefined
          : {
              rssBeforeMiB: spread(runs.map((r) => r.before.rssBytes / MIB)).median,
              rssPeakMiB: spread(runs.map((r) => r.peak.rssBytes / MIB)).median,
              rssAfterMiB: spread(runs.map((r) => (r.after?.rssBytes ?? 0) / MIB)).median,
              fdsBefore: spread(runs.map((r) => r.before.fds)).median,
              fdsPeak: spread(runs.map((r) => r.peak.fds)).median,
              fdsAfter: spread(runs.map((r) => r.after?.fds ?? 0)).median,
            };
      rows.push({
        scenario: scenario.id,
        number: scenario.number,
        title: scenario.title(config),
        metric: scenario.metric,
        server,
        client: [...new Set(runs.map((r) => (r.result.kind === 'requests' ? r.result.client : 'node')))].join('+'),
        reps: runs.length,
        value: values.length === 0 ? undefined : spread(values),
        p50Ms: timed.length === 0 ? undefined : spread(timed.map((r) => r.p50Ms)).median,
        p99Ms: timed.length === 0 ? undefined : spread(timed.map((r) => r.p99Ms)).median,
        ratios,
        checked: runs.reduce((n, r) => n + checkedCount(r.result), 0),
        cutOff: requestResults.reduce((n, r) => n + r.cutOff, 0),
        errors: runs.reduce((n, r) => n + r.result.errors, 0),
        errorSamples: mergeErrors(runs),
        memory,
        eventLoopP99Ms: eventLoops.length === 0 ? undefined : spread(eventLoops).median,
        notes: [...new Set(runs.flatMap((r) => (r.note === undefined ? [] : [r.note])))],
      });
    }
  }
  return rows;
}

function num(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return Number(n.toPrecision(3)).toString();
}

function errorsCell(row: SummaryRow): string {
  if (row.errors === 0) return '0';
  const samples = Object.entries(row.errorSamples)
    .slice(0, 2)
    .map(([message, count]) => `${message} ×${count}`)
    .join('; ');
  return `⚠ ${row.errors} (${samples})`;
}

function ratioCell(row: SummaryRow): string {
  const flag = row.errors > 0 ? '⚠ ' : '';
  return row.ratios.map((r) => `${flag}**${r.median.toFixed(2)}×** ${r.against}${r.values.length > 1 ? ` (${r.min.toFixed(2)}–${r.max.toFixed(2)})` : ''}`).join(', ') || '';
}

/** The report: header lines, the throughput table and the memory table, in markdown. */
export function markdown(meta: BenchMeta, config: BenchConfig, rows: readonly SummaryRow[]): string {
  const lines = [
    `- ${meta.node}, ${meta.cpus} CPUs (os.availableParallelism), ${meta.platform}, ${meta.memory}; load average ${meta.loadAverage}`,
    meta.file.own === true
      ? `- file: ${meta.file.path}, ${num(meta.file.size / MIB)} MiB (your file: bodies checked against its bytes); page cache: ${meta.pageCache}`
      : `- file: ${num(meta.file.size / MIB)} MiB of pseudo-random data at ${meta.file.path} (${meta.file.created ? 'written for this run' : 'cached from an earlier run'}); page cache: ${meta.pageCache}`,
    `- client: ${meta.client}`,
    `- nginx: ${meta.nginx}`,
    `- sage: ${meta.sage}`,
    '- memory and fds: VmRSS and /proc/<pid>/fd of the server, sampled every 100 ms (nginx: its worker; cluster: primary + workers); the other Node servers are .ts scripts run through type stripping',
    `- ${config.reps} repetition${config.reps === 1 ? '' : 's'}, interleaved; request scenarios ${num(config.warmupMs / 1000)} s warm-up + ${num(config.durationMs / 1000)} s each; figures are medians, spread is min–max over the repetitions, ratios are taken within each repetition; MB = 10^6 bytes`,
    `- \`${meta.command}\` at ${meta.startedAt}`,
    '',
  ];
  const speed = rows.filter((r) => r.metric !== 'memory');
  if (speed.length > 0) {
    lines.push(
      '| # | scenario | server | result | spread | p50 / p99 ms | ratio (same round) | event loop p99 ms | checked | errors | client |',
      '|---|---|---|---:|---|---:|---|---:|---:|---|---|',
    );
    for (const row of speed) {
      const value = row.value === undefined ? '–' : `${row.errors > 0 ? '⚠ ' : ''}${num(row.value.median)} ${row.metric}`;
      const range = row.value === undefined || row.reps < 2 ? '' : `${num(row.value.min)}–${num(row.value.max)}`;
      const latency = row.p50Ms === undefined || row.p99Ms === undefined ? '' : `${num(row.p50Ms)} / ${num(row.p99Ms)}`;
      lines.push(`| ${row.number} | ${row.title} | ${row.server} | ${value} | ${range} | ${latency} | ${ratioCell(row)} | ${row.eventLoopP99Ms === undefined ? '' : num(row.eventLoopP99Ms)} | ${row.checked.toLocaleString('en-US')}${row.cutOff > 0 ? ` + ${row.cutOff} cut off` : ''} | ${errorsCell(row)} | ${row.client} |`);
    }
    lines.push('');
    const notes = [...new Set(speed.flatMap((r) => r.notes.map((n) => `${r.number}: ${n}`)))];
    if (notes.length > 0) lines.push(`Notes: ${notes.join('; ')}.`, '');
    const ceilingMissing = [...new Set(speed.filter((r) => r.scenario !== 'cluster' && !speed.some((o) => o.scenario === r.scenario && o.server === 'ceiling')).map((r) => r.number))];
    if (ceilingMissing.length > 0 && speed.some((r) => r.server === 'ceiling')) {
      lines.push(`The ceiling is n/a in ${ceilingMissing.join(', ')}: it answers from memory only what it could hold (the whole file when it fits, else the first 64 KiB), and memory and cold-cache runs say nothing about it.`, '');
    }
  }
  const memory = rows.filter((r) => r.memory !== undefined);
  if (memory.length > 0) {
    lines.push(
      '| # | scenario | server | RSS MiB before → peak → after | fds before → peak → after | checked | errors |',
      '|---|---|---|---|---|---:|---|',
    );
    for (const row of memory) {
      const m = row.memory!;
      const leaked = m.fdsAfter - m.fdsBefore;
      lines.push(
        `| ${row.number} | ${row.title} | ${row.server} | ${num(m.rssBeforeMiB)} → ${num(m.rssPeakMiB)} → ${num(m.rssAfterMiB)} | ${m.fdsBefore} → ${m.fdsPeak} → ${m.fdsAfter}${leaked > 0 ? ` (**+${leaked}**)` : ''} | ${row.checked.toLocaleString('en-US')} | ${errorsCell(row)} |`,
      );
    }
    lines.push('');
  }
  const failed = rows.filter((r) => r.errors > 0);
  if (failed.length > 0) {
    lines.push(`**Failed the checks** (figures marked ⚠ are not comparable): ${failed.map((r) => `${r.server} in ${r.number} ${r.scenario} (${r.errors} errors)`).join('; ')}.`, '');
  }
  return lines.join('\n');
}

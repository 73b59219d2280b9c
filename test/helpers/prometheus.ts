import assert from 'node:assert/strict';

/** One series from a scrape: `name{labels}` → value, with every metric's TYPE. */
export type Scrape = { readonly values: ReadonlyMap<string, number>; readonly types: ReadonlyMap<string, string> };

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/;

/**
 * Parses the Prometheus text format strictly enough to catch a malformed exposition: every
 * sample line must match `name{labels} value`, every metric must have HELP and TYPE before its
 * samples, a counter's name must end in `_total`.
 */
export function parsePrometheus(text: string): Scrape {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  const helped = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      helped.add(line.split(' ')[2]!);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(helped.has(name!), `HELP before TYPE for ${name}`);
      assert.ok(type === 'counter' || type === 'gauge', `type of ${name}: ${type}`);
      if (type === 'counter') assert.match(name!, /_total$/);
      types.set(name!, type!);
      continue;
    }
    const match = SAMPLE.exec(line);
    assert.ok(match !== null, `a sample line: ${JSON.stringify(line)}`);
    assert.ok(types.has(match[1]!), `TYPE before samples of ${match[1]}`);
    const value = Number(match[3]);
    assert.ok(Number.isFinite(value), `a number: ${line}`);
    values.set(`${match[1]}${match[2] ?? ''}`, value);
  }
  return { values, types };
}

/** The value of one series; fails when it is missing. */
export function sample(scrape: Scrape, series: string): number {
  const value = scrape.values.get(series);
  assert.ok(value !== undefined, `series ${series} is in the scrape`);
  return value;
}

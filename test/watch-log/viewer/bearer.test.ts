import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { bearerToken, tokenAuthorizer } from '../../../src/watch-log/viewer/viewer.ts';

const cases: ReadonlyArray<{ header: string; want: string | undefined }> = [
  { header: 'Bearer abc', want: 'abc' },
  { header: 'bearer abc', want: 'abc' },
  { header: 'BEARER   abc  ', want: 'abc' },
  { header: 'Bearer a b', want: 'a b' },
  { header: 'Bearer ', want: undefined },
  { header: 'Bearer    ', want: undefined },
  { header: 'Bearerabc', want: undefined },
  { header: 'Basic abc', want: undefined },
  { header: 'Bearer\tabc', want: undefined },
  { header: '', want: undefined },
];

describe('bearerToken', () => {
  for (const { header, want } of cases) {
    it(`${JSON.stringify(header)} → ${String(want)}`, () => assert.equal(bearerToken(header), want));
  }
});

describe('tokenAuthorizer cost is linear in the header', () => {
  const authorize = tokenAuthorizer('s3cret-Token_42');
  const request = (authorization: string): IncomingMessage => ({ headers: { authorization }, url: '/admin' }) as IncomingMessage;

  it('Bearer a + 16,000 spaces + b: median well under 1 ms (checked < 5 ms)', () => {
    const req = request(`Bearer a${' '.repeat(16_000)}b`);
    const times: number[] = [];
    for (let run = 0; run < 41; run++) {
      const t0 = performance.now();
      assert.equal(authorize(req), false);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const median = times[20]!;
    // Before the fix (the lazy regex) one call took >100 ms.
    assert.ok(median < 5, `median ${median.toFixed(3)} ms`);
  });

  it('the right token still passes, the wrong one does not', () => {
    assert.equal(authorize(request('Bearer s3cret-Token_42')), true);
    assert.equal(authorize(request('bearer   s3cret-Token_42  ')), true);
    assert.equal(authorize(request('Bearer s3cret-Token_43')), false);
  });
});

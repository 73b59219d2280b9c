import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_BEACON_BYTES, parseBeaconReport } from '../../src/serve/beacon-report.ts';

const EVENTS = { play: 1, pause: 1, seek: 0, ended: 0, stall: 0, hidden: 0 };
const GOOD = { v: 1, src: '/stream?path=a.mp4', duration: 60, position: 4, played: [[0, 4]], rebuffer: 0, events: EVENTS, reason: 'pause' };

function body(overrides: Record<string, unknown>): string {
  return JSON.stringify({ ...GOOD, ...overrides });
}

describe('parseBeaconReport', () => {
  it('a well-formed report → ok, ranges clamped to the duration', () => {
    const parsed = parseBeaconReport(body({ played: [[0, 4], [30, 60.2]] }));
    assert.equal(parsed.kind, 'ok');
    assert.deepEqual(parsed.kind === 'ok' && parsed.body.played, [[0, 4], [30, 60]]);
  });
  const bad: ReadonlyArray<[string, string]> = [
    ['not JSON', '{"v":1'],
    ['an array', '[]'],
    ['an extra key', body({ extra: 1 })],
    ['a missing key', JSON.stringify({ ...GOOD, reason: undefined })],
    ['version 2', body({ v: 2 })],
    ['src not a path', body({ src: 'http://x/a.mp4' })],
    ['src protocol-relative', body({ src: '//evil/a.mp4' })],
    ['src too long', body({ src: `/${'a'.repeat(2100)}` })],
    ['duration 0', body({ duration: 0 })],
    ['duration as a string', body({ duration: '60' })],
    ['duration over 7 days', body({ duration: 1e9 })],
    ['position past the duration', body({ position: 90 })],
    ['a range past the duration', body({ played: [[50, 70]] })],
    ['a reversed range', body({ played: [[5, 4]] })],
    ['a negative range', body({ played: [[-1, 4]] })],
    ['a range of three numbers', body({ played: [[0, 1, 2]] })],
    ['65 ranges', body({ played: Array.from({ length: 65 }, (_, i) => [i / 2, i / 2 + 0.1]) })],
    ['negative rebuffer', body({ rebuffer: -1 })],
    ['an unknown event', body({ events: { ...EVENTS, boom: 1 } })],
    ['a fractional count', body({ events: { ...EVENTS, play: 1.5 } })],
    ['an unknown reason', body({ reason: 'because' })],
  ];
  for (const [name, text] of bad) {
    it(`${name} → invalid`, () => assert.equal(parseBeaconReport(text).kind, 'invalid'));
  }
  it('the largest report the beacon sends (64 ranges) fits in MAX_BEACON_BYTES', () => {
    const played = Array.from({ length: 64 }, (_, i) => [i * 100.123, i * 100.123 + 50.456]);
    const text = body({ duration: 6500.5, played, src: `/stream?path=${'x'.repeat(200)}.mp4&expires=1767225600&sig=${'s'.repeat(43)}` });
    assert.ok(Buffer.byteLength(text) < MAX_BEACON_BYTES, `${Buffer.byteLength(text)} bytes`);
    assert.equal(parseBeaconReport(text).kind, 'ok');
  });
});

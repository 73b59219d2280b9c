import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeLogValue, formatCombined, formatJson, formatLogTime, redactUrl, type AccessEntry } from '../../src/http/access-log.ts';

const ENTRY: AccessEntry = {
  time: Date.UTC(2026, 11, 1, 23, 5, 9, 123),
  ip: '203.0.113.7',
  method: 'GET',
  url: '/api/stream?path=a.mp4',
  httpVersion: '1.1',
  status: 206,
  bytesSent: 1024,
  referer: 'http://example.test/page',
  userAgent: 'Mozilla/5.0 (X11)',
  range: 'bytes=0-1023',
  aborted: false,
  durationMs: 12.3456,
};

describe('escapeLogValue', () => {
  const rows: ReadonlyArray<{ input: string; want: string }> = [
    { input: 'plain text', want: 'plain text' },
    { input: 'a"b', want: 'a\\x22b' },
    { input: 'back\\slash', want: 'back\\x5Cslash' },
    { input: 'line\r\nInjected: 1', want: 'line\\x0D\\x0AInjected: 1' },
    { input: '\x1b[31mred', want: '\\x1B[31mred' },
    { input: 'tab\there', want: 'tab\\x09here' },
    { input: 'del\x7f', want: 'del\\x7F' },
    { input: 'é', want: '\\xC3\\xA9' },
    { input: '\u2028', want: '\\xE2\\x80\\xA8' },
  ];
  for (const { input, want } of rows) it(JSON.stringify(input), () => assert.equal(escapeLogValue(input), want));
});

describe('redactUrl', () => {
  const rows: ReadonlyArray<{ input: string; want: string }> = [
    { input: '/v/a.mp4?expires=1&sig=abc_DEF-1', want: '/v/a.mp4?expires=1&sig=REDACTED' },
    { input: '/admin?token=secret&page=2', want: '/admin?token=REDACTED&page=2' },
    { input: '/api/stream?path=design.mp4', want: '/api/stream?path=design.mp4' },
    { input: '/a?signature=keep', want: '/a?signature=keep' },
  ];
  for (const { input, want } of rows) it(input, () => assert.equal(redactUrl(input), want));
});

describe('formatCombined', () => {
  it('writes the combined format with the duration in seconds', () => {
    assert.equal(
      formatCombined(ENTRY),
      '203.0.113.7 - - [01/Dec/2026:23:05:09 +0000] "GET /api/stream?path=a.mp4 HTTP/1.1" 206 1024 "http://example.test/page" "Mozilla/5.0 (X11)" 0.012',
    );
  });
  it('writes - for a missing Referer and User-Agent, and 499 for a client that left first', () => {
    const line = formatCombined({ ...ENTRY, referer: undefined, userAgent: '', status: 0, bytesSent: 0 });
    assert.match(line, /" 499 0 "-" "-" 0\.012$/);
  });
  it('keeps a hostile request on one line, quotes escaped, signature redacted', () => {
    const line = formatCombined({ ...ENTRY, url: '/x?sig=k3y&a="\n', userAgent: 'evil"\r\n1.2.3.4 - - [fake]' });
    assert.doesNotMatch(line, /[\r\n]/);
    assert.ok(line.includes('"GET /x?sig=REDACTED&a=\\x22\\x0A HTTP/1.1"'), line);
    assert.ok(line.endsWith('"evil\\x22\\x0D\\x0A1.2.3.4 - - [fake]" 0.012'), line);
  });
});

describe('formatJson', () => {
  it('is one JSON object with range, aborted and duration', () => {
    const line = formatJson({ ...ENTRY, aborted: true, userAgent: 'a\u2028b\nc' });
    assert.doesNotMatch(line, /[\r\n\u2028\u2029]/);
    assert.deepEqual(JSON.parse(line), {
      time: '2026-12-01T23:05:09.123Z',
      ip: '203.0.113.7',
      method: 'GET',
      url: '/api/stream?path=a.mp4',
      httpVersion: '1.1',
      status: 206,
      bytesSent: 1024,
      range: 'bytes=0-1023',
      aborted: true,
      durationMs: 12.346,
      referer: 'http://example.test/page',
      userAgent: 'a\u2028b\nc',
    });
  });
});

it('formatLogTime pads every field and uses UTC', () => {
  assert.equal(formatLogTime(Date.UTC(2027, 0, 2, 3, 4, 5)), '02/Jan/2027:03:04:05 +0000');
});

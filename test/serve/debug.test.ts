import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { escapeForLog } from '../../src/serve/debug.ts';
import { createFixtures } from '../helpers/fixtures.ts';

const CHILD = fileURLToPath(new URL('../fixtures/debug-server.ts', import.meta.url));

describe('escapeForLog', () => {
  const cases: ReadonlyArray<{ text: string; want: string }> = [
    { text: 'movies/clip.mp4', want: 'movies/clip.mp4' },
    { text: 'été ✓.mp4', want: 'été ✓.mp4' },
    { text: 'a\r\nFAKE', want: 'a\\r\\nFAKE' },
    { text: 'tab\there', want: 'tab\\there' },
    { text: '\x1b[31mred', want: '\\x1b[31mred' },
    { text: '\0\x7f\x85', want: '\\x00\\x7f\\x85' },
    { text: 'back\\slash', want: 'back\\\\slash' }, // so "\\n" in a name is not read as an escape
    { text: 'rtl\u202eevil\u2028x', want: 'rtl\\u202eevil\\u2028x' },
  ];
  for (const { text, want } of cases) {
    it(`${JSON.stringify(text)} → ${want}`, () => assert.equal(escapeForLog(text), want));
  }
});

describe('NODE_DEBUG=sage-stream output escapes what came from the request', () => {
  const fixtures = createFixtures();
  after(() => fixtures.remove());
  const root = fixtures.path('root');
  fixtures.write('root/ok.txt', 'x');
  // A name with CR, LF and an ANSI escape, linking outside root: refused, and debug names it.
  symlinkSync('/etc/hostname', fixtures.path('root/a\r\nFAKE LINE\x1b[31m.mp4'));

  it('a decoded path with CR LF and ESC stays on one line, escaped', async () => {
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [CHILD, root, '/?path=a%0D%0AFAKE%20LINE%1B%5B31m.mp4', '/?path=ok.txt%0A'],
      { env: { ...process.env, NODE_DEBUG: 'sage-stream' }, timeout: 20_000 },
    );
    const lines = stderr.split('\n');
    assert.ok(lines.some((line) => line.includes('a\\r\\nFAKE LINE\\x1b[31m.mp4: refused')), stderr);
    assert.ok(!lines.some((line) => line.startsWith('FAKE')), `a forged line:\n${stderr}`);
    assert.ok(!stderr.includes('\x1b') && !stderr.includes('\r'), 'no raw control character reaches stderr');
  });
});

import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createFixtures, pattern } from '../helpers/fixtures.ts';

// The machines' bare Node 20 has no node:sqlite: the watch log must say so, and serving go on.
const NODE_20 = '/usr/bin/node';
const version = existsSync(NODE_20) ? execFileSync(NODE_20, ['--version'], { encoding: 'utf8' }).trim() : '';
const lacksSqlite = /^v(1\d|20|21)\./.test(version);
const fixtures = createFixtures();
fixtures.file('root/clip.mp4', 100);
after(() => fixtures.remove());

it('without node:sqlite the watch log fails with a clear message and files are still served', { skip: lacksSqlite ? false : `no Node without node:sqlite at ${NODE_20}` }, () => {
  const script = fileURLToPath(new URL('../fixtures/no-sqlite-client.ts', import.meta.url));
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const out = execFileSync(NODE_20, ['--import', 'tsx', script, fixtures.path('root'), fixtures.path('watch.db')], { cwd: repo, encoding: 'utf8', timeout: 20_000 });
  const { body, errors } = JSON.parse(out) as { body: number[]; errors: string[] };
  assert.deepEqual(Buffer.from(body), pattern(3, 6));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, new RegExp(`the watch log needs node:sqlite, in Node\\.js 22\\.13\\.0 or later \\(this is Node\\.js ${version.replaceAll('.', '\\.')}\\)`));
});

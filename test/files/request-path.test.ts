import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { confinedRealPath, isServable, requestedPath, type PathLocator, type RequestedPath } from '../../src/files/request-path.ts';
import { createFixtures, type Fixtures } from '../helpers/fixtures.ts';

const OK = (path: string): RequestedPath => ({ kind: 'ok', path });
const MISSING: RequestedPath = { kind: 'missing' };
const OUTSIDE: RequestedPath = { kind: 'outside-prefix' };
const BAD: RequestedPath = { kind: 'bad-request' };
const FORBIDDEN: RequestedPath = { kind: 'forbidden' };
const DIRECTORY: RequestedPath = { kind: 'directory' };

type Row = {
  readonly url: string;
  readonly want: RequestedPath;
  /** What 'allow' returns when it differs from `want` (dotfile rows). */
  readonly allow?: RequestedPath;
  readonly todo?: string;
};

function runRows(locator: PathLocator, rows: readonly Row[]): void {
  for (const { url, want, allow, todo } of rows) {
    it(`${url} → ${want.kind}${allow ? ` (allow → ${allow.kind})` : ''}`, todo ? { todo } : {}, () => {
      assert.deepEqual(requestedPath(url, locator, 'deny'), want);
      assert.deepEqual(requestedPath(url, locator, 'allow'), allow ?? want);
    });
  }
}

// Rows written for ?path=…; the custom-param table reruns them with the name swapped.
const QUERY_ROWS: readonly Row[] = [
  { url: '/s?path=a.mp4', want: OK('a.mp4') },
  { url: '/s?path=a/b/c.mp4', want: OK('a/b/c.mp4') },
  { url: '/s?path=a%2Fb%2fc.mp4', want: OK('a/b/c.mp4') },
  { url: '/s?path=my+film.mp4', want: OK('my film.mp4') },
  { url: '/s?path=my%20film.mp4', want: OK('my film.mp4') },
  { url: '/s?path=a%2Bb.mp4', want: OK('a+b.mp4') },
  { url: '/s?path=%C3%A9t%C3%A9.mp4', want: OK('été.mp4') },
  // Decoded exactly once: the file is literally named "%2e%2e".
  { url: '/s?path=%252e%252e', want: OK('%2e%2e') },
  { url: '/s?path=%252e%252e/x', want: OK('%2e%2e/x') },
  { url: '/s?path=..', want: BAD },
  { url: '/s?path=../x', want: BAD },
  { url: '/s?path=a/..', want: BAD },
  { url: '/s?path=a/../b', want: BAD },
  { url: '/s?path=a/../../x', want: BAD },
  { url: '/s?path=%2e%2e/x', want: BAD },
  { url: '/s?path=%2E%2E%2Fx', want: BAD },
  { url: '/s?path=..%2fx', want: BAD },
  { url: '/s?path=.%2e/x', want: BAD },
  // A leading '/' is relative to root, like a URL path.
  { url: '/s?path=/etc/passwd', want: OK('etc/passwd') },
  { url: '/s?path=%2Fetc%2Fpasswd', want: OK('etc/passwd') },
  { url: '/s?path=a//b', want: OK('a/b') },
  { url: '/s?path=//a', want: OK('a') },
  { url: '/s?path=./a/./b', want: OK('a/b') },
  // A trailing '/' names a folder, even when the name is a file's (clip.mp4/ is not clip.mp4).
  { url: '/s?path=./a/./b/', want: DIRECTORY },
  { url: '/s?path=clip.mp4/', want: DIRECTORY },
  { url: '/s?path=clip.mp4%2F', want: DIRECTORY },
  { url: '/s?path=a/clip.mp4/.', want: DIRECTORY },
  { url: '/s?path=a/clip.mp4//', want: DIRECTORY },
  { url: '/s?path=.', want: MISSING },
  { url: '/s?path=/', want: MISSING },
  { url: '/s?path=./', want: MISSING },
  { url: '/s?path=a%00.mp4', want: BAD },
  { url: '/s?path=a.mp4%00', want: BAD },
  { url: '/s?path=..%5cx', want: BAD },
  { url: '/s?path=a%5cb', want: BAD },
  { url: '/s?path=a\\b', want: BAD },
  { url: '/s?path=%', want: BAD },
  { url: '/s?path=a%', want: BAD },
  { url: '/s?path=%zz', want: BAD },
  { url: '/s?path=%E0%A4%A', want: BAD },
  { url: '/s?path=%C3', want: BAD },
  { url: '/s?path=a&path=a', want: BAD },
  { url: '/s?path=a&path=b', want: BAD },
  { url: '/s?path=&path=b', want: BAD },
  { url: '/s?path=a&p%61th=b', want: BAD },
  { url: '/s', want: MISSING },
  { url: '/s?', want: MISSING },
  { url: '/s?path=', want: MISSING },
  { url: '/s?path', want: MISSING },
  { url: '/s?other=a.mp4', want: MISSING },
  { url: '/s?paths=a.mp4', want: MISSING },
  { url: '/s?PATH=a.mp4', want: MISSING },
  { url: '/s#path=a.mp4', want: MISSING },
  { url: '/s?x=1#path=a.mp4', want: MISSING },
  { url: '/s?path=a.mp4#path=b.mp4', want: OK('a.mp4') },
  {
    url: '/s#?path=a.mp4',
    want: MISSING,
  },
  { url: '/s?a=1&path=x.mp4&b=2', want: OK('x.mp4') },
  { url: '/s?a=%zz&path=x.mp4', want: OK('x.mp4') },
  { url: '/s?&&path=x.mp4&&', want: OK('x.mp4') },
  { url: '/s?path=a=b.mp4', want: OK('a=b.mp4') },
  { url: '/s?p%61th=x.mp4', want: OK('x.mp4') },
  { url: '/s?pa%74h=x.mp4', want: OK('x.mp4') },
  { url: '/s?path=.env', want: FORBIDDEN, allow: OK('.env') },
  { url: '/s?path=a/.git/config', want: FORBIDDEN, allow: OK('a/.git/config') },
  { url: '/s?path=%2Egit/config', want: FORBIDDEN, allow: OK('.git/config') },
  { url: '/s?path=..hidden', want: FORBIDDEN, allow: OK('..hidden') },
  { url: '/s?path=a/...', want: FORBIDDEN, allow: OK('a/...') },
  { url: '/s?path=a.b/c.d', want: OK('a.b/c.d') },
  // Refused either way; the first offending segment decides which refusal.
  { url: '/s?path=.env/../x', want: FORBIDDEN, allow: BAD },
  { url: '/s?path=x/../.env', want: BAD, allow: BAD },
];

describe("requestedPath, query mode, param 'path'", () => {
  runRows({ mode: 'query', param: 'path' }, QUERY_ROWS);
});

describe("requestedPath, query mode, param 'file'", () => {
  const rows = QUERY_ROWS.map((row) => ({
    ...row,
    url: row.url.replace(/\bpath=/g, 'file=').replace('p%61th=', 'fil%65=').replace('pa%74h=', 'f%69le=').replace('PATH=', 'FILE=').replace('paths=', 'files='),
  }));
  runRows({ mode: 'query', param: 'file' }, rows);
  // Under a custom name, 'path' is just another parameter.
  runRows({ mode: 'query', param: 'file' }, [
    { url: '/s?path=a.mp4', want: MISSING },
    { url: '/s?path=a.mp4&file=b.mp4', want: OK('b.mp4') },
    { url: '/s?path=../x&file=b.mp4', want: OK('b.mp4') },
  ]);
});

describe("requestedPath, path mode, prefix ''", () => {
  runRows({ mode: 'path', prefix: '' }, [
    { url: '/a.mp4', want: OK('a.mp4') },
    { url: '/videos/a/b.mp4', want: OK('videos/a/b.mp4') },
    { url: '/a%20b.mp4', want: OK('a b.mp4') },
    // '+' means a space only in a query string.
    { url: '/a+b.mp4', want: OK('a+b.mp4') },
    { url: '/a%2Fb.mp4', want: OK('a/b.mp4') },
    { url: '/', want: MISSING },
    { url: '//', want: MISSING },
    { url: '/?path=a.mp4', want: MISSING },
    { url: '/a.mp4?x=1', want: OK('a.mp4') },
    { url: '/a.mp4#frag', want: OK('a.mp4') },
    { url: '/a.mp4/', want: DIRECTORY },
    { url: '/a.mp4/?x=1', want: DIRECTORY },
    { url: '/a.mp4%2F', want: DIRECTORY },
    { url: '//etc/passwd', want: OK('etc/passwd') },
    { url: '/../etc/passwd', want: BAD },
    { url: '/%2e%2e/etc/passwd', want: BAD },
    { url: '/%252e%252e/x', want: OK('%2e%2e/x') },
    { url: '/a%00', want: BAD },
    { url: '/a%5cb', want: BAD },
    { url: '/%zz', want: BAD },
    { url: '/.env', want: FORBIDDEN, allow: OK('.env') },
    { url: 'http://h/a.mp4', want: OK('a.mp4') },
    { url: 'not a url', want: BAD },
    {
      url: 'http://h/a/../b.mp4',
      want: BAD,
    },
    {
      url: 'http://h/%2e%2e/etc/passwd',
      want: BAD,
    },
  ]);
});

describe("requestedPath, path mode, prefix '/videos'", () => {
  runRows({ mode: 'path', prefix: '/videos' }, [
    { url: '/videos/a/b.mp4', want: OK('a/b.mp4') },
    { url: '/videos/a.mp4', want: OK('a.mp4') },
    { url: '/videos/a%2Fb.mp4', want: OK('a/b.mp4') },
    { url: '/videos//a.mp4', want: OK('a.mp4') },
    { url: '/videos/./a.mp4', want: OK('a.mp4') },
    { url: '/videos/a.mp4/', want: DIRECTORY },
    { url: '/videos/a/b.mp4/.', want: DIRECTORY },
    { url: '/videos', want: MISSING },
    { url: '/videos/', want: MISSING },
    { url: '/videos?path=a.mp4', want: MISSING },
    { url: '/videos/?x', want: MISSING },
    { url: '/videosX/a', want: OUTSIDE },
    { url: '/videos.mp4', want: OUTSIDE },
    { url: '/videos%2Fa.mp4', want: OUTSIDE },
    { url: '/other', want: OUTSIDE },
    { url: '/', want: OUTSIDE },
    { url: '/Videos/a.mp4', want: OUTSIDE },
    { url: '//videos/a.mp4', want: OUTSIDE },
    { url: '/videos/%2e%2e/x', want: BAD },
    { url: '/videos/%2E%2E%2Fx', want: BAD },
    { url: '/videos/../x', want: BAD },
    { url: '/videos/a/../../x', want: BAD },
    { url: '/videos/..%5cx', want: BAD },
    { url: '/videos/a%00.mp4', want: BAD },
    { url: '/videos/%E0%A4%A', want: BAD },
    { url: '/videos/a.mp4?path=../x', want: OK('a.mp4') },
    { url: '/videos/a.mp4?x=%zz', want: OK('a.mp4') },
    { url: '/videos/a.mp4#../x', want: OK('a.mp4') },
    { url: '/videos/.hidden/a.mp4', want: FORBIDDEN, allow: OK('.hidden/a.mp4') },
    { url: 'http://h/videos/a.mp4', want: OK('a.mp4') },
    { url: 'http://h:8080/videos/a/b.mp4?x=1', want: OK('a/b.mp4') },
    { url: 'http://h/other/a.mp4', want: OUTSIDE },
    {
      url: 'http://h/videos/x/../a.mp4',
      want: BAD,
    },
    {
      url: 'http://h/videos/a\\b.mp4',
      want: BAD,
    },
  ]);
});

describe('confinedRealPath', () => {
  // <dir>/x/root is the root; <dir>/x/root-evil shares its name as a string prefix.
  let fixtures: Fixtures;
  let root: string;
  let outside: string;
  before(() => {
    fixtures = createFixtures();
    fixtures.file('x/root/a.mp4', 10);
    fixtures.file('x/root/sub/b.mp4', 10);
    fixtures.file('x/outside/secret.mp4', 10);
    fixtures.file('x/root-evil/f', 10);
    root = realpathSync(fixtures.path('x/root'));
    outside = realpathSync(fixtures.path('x/outside'));
    symlinkSync(join(root, 'a.mp4'), join(root, 'inside-abs'));
    symlinkSync('sub/b.mp4', join(root, 'inside-rel'));
    symlinkSync('sub', join(root, 'subdir-link'));
    symlinkSync(join(outside, 'secret.mp4'), join(root, 'out-file'));
    symlinkSync('../outside/secret.mp4', join(root, 'out-rel'));
    symlinkSync(outside, join(root, 'out-dir'));
    symlinkSync(`${root}-evil/f`, join(root, 'evil'));
    symlinkSync(`${root}-evil`, join(root, 'evil-dir'));
    symlinkSync(root, join(root, 'self'));
    symlinkSync('loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
    mkdirSync(join(root, 'empty'));
  });
  after(() => fixtures.remove());

  const served: ReadonlyArray<{ path: string; want: string | undefined; deny: string | undefined }> = [
    { path: 'a.mp4', want: 'a.mp4', deny: 'a.mp4' },
    { path: 'sub/b.mp4', want: 'sub/b.mp4', deny: 'sub/b.mp4' },
    { path: 'empty', want: 'empty', deny: 'empty' },
    { path: 'inside-abs', want: 'a.mp4', deny: undefined },
    { path: 'inside-rel', want: 'sub/b.mp4', deny: undefined },
    { path: 'subdir-link/b.mp4', want: 'sub/b.mp4', deny: undefined },
    { path: 'out-file', want: undefined, deny: undefined },
    { path: 'out-rel', want: undefined, deny: undefined },
    { path: 'out-dir/secret.mp4', want: undefined, deny: undefined },
    { path: 'evil', want: undefined, deny: undefined },
    { path: 'evil-dir/f', want: undefined, deny: undefined },
    // The root itself is not "inside" it.
    { path: 'self', want: undefined, deny: undefined },
    { path: 'self/a.mp4', want: 'a.mp4', deny: undefined },
  ];
  for (const { path, want, deny } of served) {
    it(`${path} → ${want ?? 'undefined'} (deny → ${deny ?? 'undefined'})`, async () => {
      const inside = { realRoot: root, symlinks: 'inside-root', dotfiles: 'deny' } as const;
      assert.equal(await confinedRealPath(path, inside), want === undefined ? undefined : join(root, want));
      assert.equal(await confinedRealPath(path, { ...inside, symlinks: 'deny' }), deny === undefined ? undefined : join(root, deny));
    });
  }

  const failures: ReadonlyArray<{ path: string; code: string }> = [
    { path: 'missing.mp4', code: 'ENOENT' },
    { path: 'sub/missing.mp4', code: 'ENOENT' },
    { path: 'a.mp4/x', code: 'ENOTDIR' },
    { path: 'loop-a', code: 'ELOOP' },
    { path: 'loop-a/x', code: 'ELOOP' },
  ];
  for (const { path, code } of failures) {
    for (const symlinks of ['inside-root', 'deny'] as const) {
      it(`${path} (${symlinks}) rejects ${code}`, async () => {
        await assert.rejects(confinedRealPath(path, { realRoot: root, symlinks, dotfiles: 'deny' }), { code });
      });
    }
  }
});

describe('isServable', () => {
  const root = '/srv/videos';
  const rows: ReadonlyArray<{ real: string; path: string; symlinks: 'inside-root' | 'deny'; dotfiles: 'deny' | 'allow'; want: boolean }> = [
    { real: '/srv/videos/a.mp4', path: 'a.mp4', symlinks: 'inside-root', dotfiles: 'deny', want: true },
    { real: '/srv/videos-evil/a.mp4', path: 'a.mp4', symlinks: 'inside-root', dotfiles: 'deny', want: false },
    { real: '/srv/videos', path: 'self', symlinks: 'inside-root', dotfiles: 'deny', want: false },
    { real: '/etc/passwd', path: 'a.mp4', symlinks: 'inside-root', dotfiles: 'allow', want: false },
    { real: '/srv/videos/b.mp4', path: 'a.mp4', symlinks: 'inside-root', dotfiles: 'deny', want: true },
    { real: '/srv/videos/b.mp4', path: 'a.mp4', symlinks: 'deny', dotfiles: 'deny', want: false },
    { real: '/srv/videos/.env', path: 'link.mp4', symlinks: 'inside-root', dotfiles: 'deny', want: false },
    { real: '/srv/videos/.git/config', path: 'link.mp4', symlinks: 'inside-root', dotfiles: 'deny', want: false },
    { real: '/srv/videos/.env', path: 'link.mp4', symlinks: 'inside-root', dotfiles: 'allow', want: true },
    { real: '/srv/videos/a.b/c.mp4', path: 'a.b/c.mp4', symlinks: 'deny', dotfiles: 'deny', want: true },
  ];
  for (const row of rows) {
    it(`${row.real} for ${row.path} (${row.symlinks}, dotfiles ${row.dotfiles}) → ${row.want}`, () => {
      assert.equal(isServable(row.real, row.path, { realRoot: root, symlinks: row.symlinks, dotfiles: row.dotfiles }), row.want);
    });
  }
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync, symlinkSync } from 'node:fs';
import {
  PRIVATE_CACHE_CONTROL,
  PUBLIC_CACHE_CONTROL,
  resolveOptions,
  resolveSendOptions,
  type PermissionCheck,
  type SendOptions,
  type StreamHandlerOptions,
} from '../../src/serve/options.ts';
import { createFixtures, type Fixtures } from '../helpers/fixtures.ts';

const ALLOW: PermissionCheck = () => true;

let fixtures: Fixtures;
let root: string;
before(() => {
  fixtures = createFixtures();
  fixtures.file('root/a.mp4', 10);
  fixtures.file('plain-file', 10);
  root = fixtures.path('root');
  symlinkSync(root, fixtures.path('root-link'));
  symlinkSync(fixtures.path('plain-file'), fixtures.path('file-link'));
});
after(() => fixtures.remove());

/** Asserts `fn` throws a TypeError whose message starts with `options.<name> `. */
function assertMisuse(fn: () => unknown, name: string): void {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`options.${name} `), `message does not name options.${name}: ${err.message}`);
    return true;
  });
}

// A value of the wrong type, as a JavaScript caller could pass it.
const bad = (value: unknown): never => value as never;

describe('resolveSendOptions / resolveOptions misuse', () => {
  // Shared options: checked by both functions.
  const sendCases: ReadonlyArray<{ name: string; options: SendOptions }> = [
    { name: 'chunkSize', options: { chunkSize: 12 } },
    { name: 'chunkSize', options: { chunkSize: 0 } },
    { name: 'chunkSize', options: { chunkSize: 1023 } },
    { name: 'chunkSize', options: { chunkSize: 4096.5 } },
    { name: 'chunkSize', options: { chunkSize: Number.NaN } },
    { name: 'chunkSize', options: { chunkSize: Number.POSITIVE_INFINITY } },
    { name: 'chunkSize', options: { chunkSize: bad('65536') } },
    { name: 'maxChunkSize', options: { maxChunkSize: 0 } },
    { name: 'maxChunkSize', options: { maxChunkSize: -1 } },
    { name: 'maxChunkSize', options: { maxChunkSize: 1.5 } },
    { name: 'maxChunkSize', options: { maxChunkSize: Number.NaN } },
    { name: 'maxChunkSize', options: { maxChunkSize: bad('1') } },
    { name: 'maxRanges', options: { maxRanges: 0 } },
    { name: 'maxRanges', options: { maxRanges: -1 } },
    { name: 'maxRanges', options: { maxRanges: 2.5 } },
    { name: 'maxRanges', options: { maxRanges: Number.NaN } },
    { name: 'maxRanges', options: { maxRanges: bad('5') } },
    { name: 'cacheControl', options: { cacheControl: 'public\r\nSet-Cookie: session=evil' } },
    { name: 'cacheControl', options: { cacheControl: 'public\nX-Injected: 1' } },
    { name: 'cacheControl', options: { cacheControl: 'public\rX-Injected: 1' } },
    { name: 'cacheControl', options: { cacheControl: 'max-age=0\0' } },
    { name: 'cacheControl', options: { cacheControl: 'max-âge=0' } },
    { name: 'mediaTypes.txt', options: { mediaTypes: { txt: 'text/plain\r\nSet-Cookie: x=1' } } },
    { name: 'mediaTypes', options: { mediaTypes: 'video/mp4' as never } },
    { name: 'sendTimeoutMs', options: { sendTimeoutMs: -1 } },
    { name: 'sendTimeoutMs', options: { sendTimeoutMs: 1.5 } },
    { name: 'maxStreamsPerSession', options: { maxStreamsPerSession: 0 } },
    { name: 'maxStreamsPerSession', options: { maxStreamsPerSession: 2.5 } },
    { name: 'cacheControl', options: { cacheControl: bad(true) } },
    { name: 'cacheControl', options: { cacheControl: bad(60) } },
    { name: 'onError', options: { onError: bad('console.error') } },
    { name: 'onError', options: { onError: bad({}) } },
  ];
  for (const { name, options } of sendCases) {
    const shown = `{ ${Object.entries(options).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join(', ')} }`;
    it(`resolveSendOptions(${shown}) → TypeError naming options.${name}`, () => {
      assertMisuse(() => resolveSendOptions(options), name);
    });
    it(`resolveOptions({ root, ${shown.slice(2, -2)} }) → TypeError naming options.${name}`, () => {
      assertMisuse(() => resolveOptions({ root, ...options }), name);
    });
  }

  const handlerCases: ReadonlyArray<{ name: string; label: string; options: () => StreamHandlerOptions }> = [
    { name: 'root', label: 'root missing', options: () => bad({}) },
    { name: 'root', label: "root ''", options: () => ({ root: '' }) },
    { name: 'root', label: 'root 42', options: () => ({ root: bad(42) }) },
    { name: 'root', label: 'root is a file', options: () => ({ root: fixtures.path('plain-file') }) },
    { name: 'root', label: 'root is a symlink to a file', options: () => ({ root: fixtures.path('file-link') }) },
    { name: 'root', label: 'root does not exist', options: () => ({ root: fixtures.path('nope') }) },
    { name: 'root', label: 'root below a file', options: () => ({ root: fixtures.path('plain-file/x') }) },
    { name: 'mode', label: "mode 'both'", options: () => ({ root, mode: bad('both') }) },
    { name: 'mode', label: "mode 'QUERY'", options: () => ({ root, mode: bad('QUERY') }) },
    { name: 'mode', label: 'mode null', options: () => ({ root, mode: bad(null) }) },
    { name: 'symlinks', label: "symlinks 'follow'", options: () => ({ root, symlinks: bad('follow') }) },
    { name: 'symlinks', label: 'symlinks true', options: () => ({ root, symlinks: bad(true) }) },
    { name: 'dotfiles', label: "dotfiles 'ignore'", options: () => ({ root, dotfiles: bad('ignore') }) },
    { name: 'dotfiles', label: 'dotfiles false', options: () => ({ root, dotfiles: bad(false) }) },
    { name: 'param', label: "param ''", options: () => ({ root, param: '' }) },
    { name: 'param', label: 'param 5', options: () => ({ root, param: bad(5) }) },
    { name: 'prefix', label: "prefix 'videos'", options: () => ({ root, mode: 'path', prefix: 'videos' }) },
    { name: 'prefix', label: 'prefix 5', options: () => ({ root, mode: 'path', prefix: bad(5) }) },
    { name: 'prefix', label: 'prefix null', options: () => ({ root, mode: 'path', prefix: bad(null) }) },
    { name: 'permissions', label: 'permissions is a function', options: () => ({ root, permissions: bad(ALLOW) }) },
    { name: 'permissions', label: 'permissions {}', options: () => ({ root, permissions: bad({}) }) },
    { name: 'permissions', label: "permissions [fn, 'x']", options: () => ({ root, permissions: [ALLOW, bad('x')] }) },
    { name: 'permissions', label: 'permissions [null]', options: () => ({ root, permissions: [bad(null)] }) },
  ];
  for (const { name, label, options } of handlerCases) {
    it(`resolveOptions: ${label} → TypeError naming options.${name}`, () => {
      assertMisuse(() => resolveOptions(options()), name);
    });
  }

  const notObjects: ReadonlyArray<unknown> = [undefined, null, '/srv/videos', 42];
  for (const value of notObjects) {
    it(`resolveOptions(${String(value)}) → TypeError asking for { root }`, () => {
      assert.throws(() => resolveOptions(bad(value)), { name: 'TypeError', message: /^options must be an object/ });
    });
  }

  it('a missing root keeps the fs error as cause', () => {
    assert.throws(() => resolveOptions({ root: fixtures.path('nope') }), (err) => {
      assert.ok(err instanceof TypeError);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
  });
});

describe('resolveSendOptions / resolveOptions accept the edges', () => {
  const cases: ReadonlyArray<{ label: string; options: SendOptions }> = [
    { label: 'chunkSize 1024', options: { chunkSize: 1024 } },
    { label: 'maxChunkSize 1', options: { maxChunkSize: 1 } },
    { label: 'maxRanges 1', options: { maxRanges: 1 } },
    { label: 'cacheControl false', options: { cacheControl: false } },
    { label: 'cacheControl with every visible ASCII byte', options: { cacheControl: ' !"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~' } },
    { label: 'onError function', options: { onError: () => {} } },
    { label: 'all undefined', options: { chunkSize: undefined, maxChunkSize: undefined, maxRanges: undefined, cacheControl: undefined, onError: undefined } },
  ];
  for (const { label, options } of cases) {
    it(label, () => {
      assert.doesNotThrow(() => resolveSendOptions(options));
      assert.doesNotThrow(() => resolveOptions({ root, ...options }));
    });
  }
});

describe('resolveOptions defaults', () => {
  it('only root given', () => {
    const resolved = resolveOptions({ root });
    assert.equal(resolved.root, root);
    assert.equal(resolved.realRoot, realpathSync(root));
    assert.equal(resolved.mode, 'query');
    assert.equal(resolved.param, 'path');
    assert.equal(resolved.prefix, '');
    assert.deepEqual(resolved.permissions, []);
    assert.equal(resolved.symlinks, 'inside-root');
    assert.equal(resolved.dotfiles, 'deny');
    assert.equal(resolved.chunkSize, 64 * 1024);
    assert.equal(resolved.maxChunkSize, undefined);
    assert.equal(resolved.cacheControl, PUBLIC_CACHE_CONTROL);
    assert.equal(resolved.onError, undefined);
    assert.equal(resolved.mediaTypeFor('a.mp4'), 'video/mp4');
    assert.ok(Object.isFrozen(resolved));
    assert.ok(Object.isFrozen(resolved.permissions));
  });

  it('cache-control constants', () => {
    assert.equal(PUBLIC_CACHE_CONTROL, 'public, max-age=0, must-revalidate');
    assert.equal(PRIVATE_CACHE_CONTROL, 'private, max-age=0, must-revalidate');
  });

  const cacheCases: ReadonlyArray<{ label: string; options: Partial<StreamHandlerOptions>; want: string | undefined }> = [
    { label: 'no permissions → public', options: {}, want: PUBLIC_CACHE_CONTROL },
    { label: 'empty permissions → public', options: { permissions: [] }, want: PUBLIC_CACHE_CONTROL },
    { label: 'a permission check → private', options: { permissions: [ALLOW] }, want: PRIVATE_CACHE_CONTROL },
    { label: 'explicit value wins over private', options: { permissions: [ALLOW], cacheControl: 'no-store' }, want: 'no-store' },
    { label: 'explicit value wins over public', options: { cacheControl: 'public, max-age=60' }, want: 'public, max-age=60' },
    { label: 'false → no header', options: { cacheControl: false }, want: undefined },
    { label: 'false with permissions → no header', options: { permissions: [ALLOW], cacheControl: false }, want: undefined },
  ];
  for (const { label, options, want } of cacheCases) {
    it(`cacheControl: ${label}`, () => assert.equal(resolveOptions({ root, ...options }).cacheControl, want));
  }

  it('resolveSendOptions: public by default, the given default otherwise', () => {
    assert.equal(resolveSendOptions({}).cacheControl, PUBLIC_CACHE_CONTROL);
    assert.equal(resolveSendOptions({}, PRIVATE_CACHE_CONTROL).cacheControl, PRIVATE_CACHE_CONTROL);
    assert.equal(resolveSendOptions({ cacheControl: 'no-cache' }, PRIVATE_CACHE_CONTROL).cacheControl, 'no-cache');
    assert.ok(Object.isFrozen(resolveSendOptions({})));
  });

  const prefixCases: ReadonlyArray<{ prefix: string; want: string; todo?: string }> = [
    { prefix: '', want: '' },
    { prefix: '/', want: '' },
    { prefix: '/videos', want: '/videos' },
    { prefix: '/videos/', want: '/videos' },
    { prefix: '/a/b/', want: '/a/b' },
    {
      prefix: '/videos//',
      want: '/videos',
    },
  ];
  for (const { prefix, want, todo } of prefixCases) {
    it(`prefix ${JSON.stringify(prefix)} → ${JSON.stringify(want)}`, todo ? { todo } : {}, () => {
      assert.equal(resolveOptions({ root, mode: 'path', prefix }).prefix, want);
    });
  }

  it('root: trailing slashes stripped, realRoot without one', () => {
    const resolved = resolveOptions({ root: `${root}//` });
    assert.equal(resolved.root, root);
    assert.equal(resolved.realRoot, realpathSync(root));
  });

  it("root '/' → root '' and realRoot ''", () => {
    const resolved = resolveOptions({ root: '/' });
    assert.equal(resolved.root, '');
    assert.equal(resolved.realRoot, '');
  });

  it('realRoot is resolved through a symlinked root; root is kept as given', () => {
    const link = fixtures.path('root-link');
    const resolved = resolveOptions({ root: link });
    assert.equal(resolved.root, link);
    assert.equal(resolved.realRoot, realpathSync(root));
    assert.notEqual(resolved.realRoot, link);
  });

  it('explicit values are kept', () => {
    const onError = (): void => {};
    const resolved = resolveOptions({
      root,
      mode: 'path',
      param: 'file',
      prefix: '/videos',
      symlinks: 'deny',
      dotfiles: 'allow',
      chunkSize: 4096,
      maxChunkSize: 1_000_000,
      onError,
      mediaTypes: { mkv: 'video/webm' },
    });
    assert.equal(resolved.mode, 'path');
    assert.equal(resolved.param, 'file');
    assert.equal(resolved.prefix, '/videos');
    assert.equal(resolved.symlinks, 'deny');
    assert.equal(resolved.dotfiles, 'allow');
    assert.equal(resolved.chunkSize, 4096);
    assert.equal(resolved.maxChunkSize, 1_000_000);
    assert.equal(resolved.onError, onError);
    assert.equal(resolved.mediaTypeFor('a.mkv'), 'video/webm');
  });

  it('permissions are copied: changing the array later changes nothing', () => {
    const permissions: PermissionCheck[] = [ALLOW];
    const resolved = resolveOptions({ root, permissions });
    permissions.push(() => false);
    assert.equal(resolved.permissions.length, 1);
    assert.equal(resolved.permissions[0], ALLOW);
  });

  it('maxRanges reaches the RangeParser', () => {
    const header = 'bytes=0-0,2-2';
    assert.equal(resolveOptions({ root, maxRanges: 1 }).rangeParser.parse(header, 100).kind, 'ignored');
    assert.equal(resolveOptions({ root, maxRanges: 2 }).rangeParser.parse(header, 100).kind, 'partial');
  });
});

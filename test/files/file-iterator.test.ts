import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { fileIterator, type FileIteratorOptions } from '../../src/files/file-iterator.ts';
import { StreamError } from '../../src/errors.ts';
import { createFixtures, pattern, type Fixtures } from '../helpers/fixtures.ts';
import { openFdCount, settle } from '../helpers/server.ts';

const SIZE = 1000;
const GIB = 2 ** 30;

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

/** Asserts that the process is back to at most `baseline` open descriptors. */
async function assertFdsBackTo(baseline: number): Promise<void> {
  const now = await settle(openFdCount, baseline);
  assert.ok(now <= baseline, `expected <= ${baseline} open fds, got ${now}`);
}

function isTruncated(err: unknown): boolean {
  assert.ok(err instanceof StreamError, `expected a StreamError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_FILE_TRUNCATED');
  assert.equal(err.status, 500);
  return true;
}

let fixtures: Fixtures;
let file: string;
before(() => {
  fixtures = createFixtures();
  file = fixtures.file('f.bin', SIZE);
});
after(() => fixtures.remove());

describe('fileIterator bytes', () => {
  // `sizes` is the exact chunk sequence; the bytes are checked against the pattern.
  const cases: ReadonlyArray<{ options: FileIteratorOptions; start: number; sizes: readonly number[] }> = [
    { options: {}, start: 0, sizes: [1000] },
    { options: { chunkSize: 100 }, start: 0, sizes: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100] },
    { options: { chunkSize: 300 }, start: 0, sizes: [300, 300, 300, 100] },
    { options: { chunkSize: 999 }, start: 0, sizes: [999, 1] },
    { options: { chunkSize: 1000 }, start: 0, sizes: [1000] },
    { options: { chunkSize: 1001 }, start: 0, sizes: [1000] },
    { options: { offset: 0, length: SIZE }, start: 0, sizes: [1000] },
    { options: { offset: 7, length: 13, chunkSize: 5 }, start: 7, sizes: [5, 5, 3] },
    { options: { offset: 7, length: 15, chunkSize: 5 }, start: 7, sizes: [5, 5, 5] },
    { options: { offset: 250, length: 502, chunkSize: 251 }, start: 250, sizes: [251, 251] },
    { options: { offset: 100, chunkSize: 1000 }, start: 100, sizes: [900] },
    { options: { offset: 100, chunkSize: 64 }, start: 100, sizes: [...Array<number>(14).fill(64), 4] },
    { options: { offset: 990, chunkSize: 1 }, start: 990, sizes: Array<number>(10).fill(1) },
    { options: { offset: 999 }, start: 999, sizes: [1] },
    { options: { offset: 999, length: 1 }, start: 999, sizes: [1] },
    { options: { offset: 10, length: 1, chunkSize: 1 }, start: 10, sizes: [1] },
    { options: { length: 1 }, start: 0, sizes: [1] },
    { options: { length: 0 }, start: 0, sizes: [] },
    { options: { offset: 500, length: 0 }, start: 500, sizes: [] },
    { options: { offset: SIZE }, start: SIZE, sizes: [] },
    { options: { offset: SIZE, length: 0 }, start: SIZE, sizes: [] },
    { options: { offset: 5000 }, start: 5000, sizes: [] },
  ];
  for (const { options, start, sizes } of cases) {
    const total = sizes.reduce((a, b) => a + b, 0);
    it(`${JSON.stringify(options)} → ${sizes.length} chunks, bytes ${start}..${start + total - 1}`, async () => {
      const chunks = await collect(fileIterator(file, options));
      assert.deepEqual(chunks.map((c) => c.length), sizes);
      assert.deepEqual(Buffer.concat(chunks), pattern(start, start + total - 1));
    });
  }

  it('an empty file → no chunks', async () => {
    assert.deepEqual(await collect(fileIterator(fixtures.file('empty.bin', 0))), []);
  });

  it('chunks are distinct buffers, never refilled', async () => {
    const chunks = await collect(fileIterator(file, { chunkSize: 100 }));
    assert.equal(chunks.length, 10);
    assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length);
    chunks.forEach((chunk, i) => assert.deepEqual(chunk, pattern(i * 100, i * 100 + 99), `chunk ${i}`));
  });

  it('the short last chunk does not share memory with another chunk', async () => {
    const chunks = await collect(fileIterator(file, { chunkSize: 300 }));
    assert.equal(new Set(chunks.map((c) => c.buffer)).size, 4);
    assert.deepEqual(chunks[3], pattern(900, 999));
  });

  it('reads from a FileHandle as from a path', async () => {
    const handle = await open(file, 'r');
    try {
      const chunks = await collect(fileIterator(handle, { offset: 3, length: 400, chunkSize: 128 }));
      assert.deepEqual(chunks.map((c) => c.length), [128, 128, 128, 16]);
      assert.deepEqual(Buffer.concat(chunks), pattern(3, 402));
    } finally {
      await handle.close();
    }
  });

  it('two iterators over one handle do not share a position', async () => {
    const handle = await open(file, 'r');
    try {
      const a = fileIterator(handle, { offset: 0, length: 200, chunkSize: 50 });
      const b = fileIterator(handle, { offset: 500, length: 200, chunkSize: 50 });
      const got = { a: [] as Buffer[], b: [] as Buffer[] };
      for (let i = 0; i < 4; i++) {
        got.a.push(((await a.next()).value as Buffer));
        got.b.push(((await b.next()).value as Buffer));
      }
      assert.deepEqual(Buffer.concat(got.a), pattern(0, 199));
      assert.deepEqual(Buffer.concat(got.b), pattern(500, 699));
    } finally {
      await handle.close();
    }
  });
});

describe('fileIterator beyond 4 GiB', () => {
  const BIG = 5 * GIB;
  const DATA = 2 ** 32; // pattern bytes at [DATA, DATA + 100), zeros elsewhere
  let big: string;
  before(() => {
    big = fixtures.sparse('big.bin', BIG, [{ offset: DATA, length: 100 }]);
  });

  const cases: ReadonlyArray<{ name: string; options: FileIteratorOptions; want: () => Buffer }> = [
    { name: 'offset 2**32 + 7, length 50', options: { offset: DATA + 7, length: 50 }, want: () => pattern(DATA + 7, DATA + 56) },
    {
      name: 'offset 2**32 + 7, length 50, chunkSize 16',
      options: { offset: DATA + 7, length: 50, chunkSize: 16 },
      want: () => pattern(DATA + 7, DATA + 56),
    },
    {
      name: 'across the end of the data into the hole',
      options: { offset: DATA + 90, length: 20 },
      want: () => Buffer.concat([pattern(DATA + 90, DATA + 99), Buffer.alloc(10)]),
    },
    {
      name: 'from the hole into the data',
      options: { offset: DATA - 5, length: 10, chunkSize: 3 },
      want: () => Buffer.concat([Buffer.alloc(5), pattern(DATA, DATA + 4)]),
    },
    { name: 'the last 3 bytes, length omitted', options: { offset: BIG - 3 }, want: () => Buffer.alloc(3) },
  ];
  for (const { name, options, want } of cases) {
    it(name, async () => {
      assert.deepEqual(Buffer.concat(await collect(fileIterator(big, options))), want());
    });
  }
});

describe('fileIterator closes the handle it opened', () => {
  // Each scenario checks the fd is open mid-iteration, so the count really measures it.
  const scenarios: ReadonlyArray<{ name: string; run: (baseline: number) => Promise<void> }> = [
    {
      name: 'on end',
      run: async (baseline) => {
        let seen = 0;
        for await (const _ of fileIterator(file, { chunkSize: 100 })) {
          if (seen++ === 0) assert.equal(await openFdCount(), baseline + 1);
        }
        assert.equal(seen, 10);
      },
    },
    {
      name: 'on break',
      run: async (baseline) => {
        for await (const _ of fileIterator(file, { chunkSize: 100 })) {
          assert.equal(await openFdCount(), baseline + 1);
          break;
        }
      },
    },
    {
      name: 'on a consumer throw',
      run: async (baseline) => {
        const boom = new Error('boom');
        await assert.rejects(async () => {
          for await (const _ of fileIterator(file, { chunkSize: 100 })) {
            assert.equal(await openFdCount(), baseline + 1);
            throw boom;
          }
        }, (err) => err === boom);
      },
    },
    {
      name: 'on abort',
      run: async (baseline) => {
        const controller = new AbortController();
        const reason = new Error('stop');
        await assert.rejects(async () => {
          for await (const _ of fileIterator(file, { chunkSize: 100, signal: controller.signal })) {
            assert.equal(await openFdCount(), baseline + 1);
            controller.abort(reason);
          }
        }, (err) => err === reason);
      },
    },
    {
      name: 'on a truncated file',
      run: async (baseline) => {
        await assert.rejects(async () => {
          for await (const _ of fileIterator(file, { offset: 900, length: 200, chunkSize: 50 })) {
            assert.equal(await openFdCount(), baseline + 1);
          }
        }, isTruncated);
      },
    },
    {
      name: 'on return() before the first next()',
      run: async () => {
        const iterator = fileIterator(file);
        assert.deepEqual(await iterator.return(undefined), { value: undefined, done: true });
      },
    },
  ];
  for (const { name, run } of scenarios) {
    it(name, async () => {
      const baseline = await openFdCount();
      await run(baseline);
      await assertFdsBackTo(baseline);
    });
  }
});

describe('fileIterator leaves a FileHandle passed in open', () => {
  const scenarios: ReadonlyArray<{ name: string; run: (handle: FileHandle) => Promise<void> }> = [
    { name: 'on end', run: async (handle) => void (await collect(fileIterator(handle, { chunkSize: 100 }))) },
    {
      name: 'on break',
      run: async (handle) => {
        for await (const _ of fileIterator(handle, { chunkSize: 100 })) break;
      },
    },
    {
      name: 'on a consumer throw',
      run: async (handle) => {
        await assert.rejects(async () => {
          for await (const _ of fileIterator(handle, { chunkSize: 100 })) throw new Error('boom');
        }, /boom/);
      },
    },
    {
      name: 'on abort',
      run: async (handle) => {
        const controller = new AbortController();
        await assert.rejects(async () => {
          for await (const _ of fileIterator(handle, { chunkSize: 100, signal: controller.signal })) controller.abort();
        }, { name: 'AbortError' });
      },
    },
    {
      name: 'on a truncated file',
      run: async (handle) => {
        await assert.rejects(collect(fileIterator(handle, { offset: 0, length: SIZE + 1 })), isTruncated);
      },
    },
  ];
  for (const { name, run } of scenarios) {
    it(name, async () => {
      const handle = await open(file, 'r');
      try {
        await run(handle);
        const buffer = Buffer.alloc(10);
        const { bytesRead } = await handle.read(buffer, 0, 10, 500);
        assert.equal(bytesRead, 10);
        assert.deepEqual(buffer, pattern(500, 509));
      } finally {
        await handle.close();
      }
    });
  }
});

describe('fileIterator abort', () => {
  it('aborting after the first chunk stops before the next read, with the reason', async () => {
    const controller = new AbortController();
    const reason = { why: 'client went away' };
    const iterator = fileIterator(file, { chunkSize: 100, signal: controller.signal });
    const first = await iterator.next();
    assert.deepEqual(first.value, pattern(0, 99));
    controller.abort(reason);
    await assert.rejects(iterator.next(), (err) => err === reason);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });

  it('an already aborted signal rejects before the file is opened', async () => {
    const reason = new Error('already');
    const missing = fixtures.path('does-not-exist.bin');
    await assert.rejects(collect(fileIterator(missing, { signal: AbortSignal.abort(reason) })), (err) => err === reason);
  });

  it('abort() without a reason rejects with an AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(collect(fileIterator(file, { signal: controller.signal })), { name: 'AbortError' });
  });

  it('a signal that never aborts reads everything', async () => {
    const chunks = await collect(fileIterator(file, { chunkSize: 300, signal: new AbortController().signal }));
    assert.deepEqual(Buffer.concat(chunks), pattern(0, SIZE - 1));
  });
});

describe('fileIterator truncated file', () => {
  const cases: ReadonlyArray<{ name: string; options: FileIteratorOptions; before: number }> = [
    { name: 'length one past the end', options: { length: SIZE + 1 }, before: SIZE },
    { name: 'offset + length past the end, small chunks', options: { offset: 900, length: 200, chunkSize: 64 }, before: 100 },
    { name: 'offset past the end with a length', options: { offset: 5000, length: 1 }, before: 0 },
    { name: 'offset at the end with a length', options: { offset: SIZE, length: 10 }, before: 0 },
  ];
  for (const { name, options, before } of cases) {
    it(`${name} → ${before} bytes, then ERR_FILE_TRUNCATED`, { timeout: 5000 }, async () => {
      const got: Buffer[] = [];
      await assert.rejects(async () => {
        for await (const chunk of fileIterator(file, options)) got.push(chunk);
      }, isTruncated);
      const start = options.offset ?? 0;
      assert.deepEqual(Buffer.concat(got), pattern(start, start + before - 1));
    });
  }

  it('a file truncated during iteration → ERR_FILE_TRUNCATED after the bytes still there', { timeout: 5000 }, async () => {
    const shrinking = fixtures.file('shrinking.bin', SIZE);
    const got: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const chunk of fileIterator(shrinking, { chunkSize: 100 })) {
        if (got.push(chunk) === 1) truncateSync(shrinking, 250);
      }
    }, isTruncated);
    assert.deepEqual(got.map((c) => c.length), [100, 100, 50]);
    assert.deepEqual(Buffer.concat(got), pattern(0, 249));
  });
});

describe('fileIterator misuse', () => {
  // A missing path shows the options are checked before anything is opened.
  const cases: ReadonlyArray<{ options: FileIteratorOptions; name: string }> = [
    { options: { offset: -1 }, name: 'offset' },
    { options: { offset: 1.5 }, name: 'offset' },
    { options: { offset: Number.NaN }, name: 'offset' },
    { options: { offset: Number.POSITIVE_INFINITY }, name: 'offset' },
    { options: { offset: 2 ** 53 }, name: 'offset' },
    { options: { offset: '5' as unknown as number }, name: 'offset' },
    { options: { length: -1 }, name: 'length' },
    { options: { length: 0.5 }, name: 'length' },
    { options: { length: Number.NaN }, name: 'length' },
    { options: { length: Number.POSITIVE_INFINITY }, name: 'length' },
    { options: { chunkSize: 0 }, name: 'chunkSize' },
    { options: { chunkSize: -1 }, name: 'chunkSize' },
    { options: { chunkSize: 1.5 }, name: 'chunkSize' },
    { options: { chunkSize: Number.POSITIVE_INFINITY }, name: 'chunkSize' },
  ];
  for (const { options, name } of cases) {
    const shown = Object.entries(options).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`);
    it(`{ ${shown.join(', ')} } → TypeError naming options.${name}`, async () => {
      const missing = fixtures.path('does-not-exist.bin');
      await assert.rejects(collect(fileIterator(missing, options)), (err) => {
        assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
        assert.match(err.message, new RegExp(`^options\\.${name} `));
        return true;
      });
    });
  }
});

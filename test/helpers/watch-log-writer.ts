// Child process for test/watch-log.test.ts: records `count` entries as viewer `tag`, closes, and
// prints { dropped, errors } as JSON, so two of these can race on one database file.
import { WatchLog } from '../../src/watch-log/watch-log.ts';

const [file, countText, tag] = process.argv.slice(2);
if (file === undefined || countText === undefined || tag === undefined) {
  throw new TypeError('usage: watch-log-writer.ts <db> <count> <tag>');
}
const count = Number(countText);
let errors = 0;
// Small batches and a short interval, so the two writers' transactions interleave.
const log = await WatchLog.open(file, { maxBatch: 20, flushIntervalMs: 2, onError: () => errors++ });
const startedAt = Date.now();
for (let i = 0; i < count; i++) {
  log.record({
    path: 'movies/shared.mp4', userId: tag, isAuthenticated: true, ip: '127.0.0.1', userAgent: tag,
    status: 206, range: `bytes=${i * 1024}-${i * 1024 + 1023}`, ranges: [{ start: i * 1024, end: i * 1024 + 1023 }],
    bytesSent: 1024, aborted: false, size: count * 1024, startedAt: startedAt + i, durationMs: 1,
  });
  // Yield now and then, so the timer flushes while the other process writes too.
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 1));
}
log.close();
process.stdout.write(JSON.stringify({ dropped: log.dropped, errors }));

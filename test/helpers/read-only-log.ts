// Child process for the read-only-database test in test/watch-log/watch-log.test.ts: drops to
// `nobody` when started as root (root writes read-only files), opens the log at argv[2], records
// one entry, waits for the failed flush, closes, and prints what it saw as JSON.
import { readFileSync } from 'node:fs';
import { WatchLog } from '../../src/watch-log/watch-log.ts';

const [file] = process.argv.slice(2);
if (file === undefined) throw new TypeError('usage: read-only-log.ts <db>');
if (process.getuid?.() === 0) {
  // Every module is loaded by now (node:sqlite is a builtin), so nothing later needs root's files.
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
  const [, , uid = '65534', gid = '65534'] = line?.split(':') ?? [];
  process.setgroups?.([Number(gid)]);
  process.setgid?.(Number(gid));
  process.setuid?.(Number(uid));
}
const errors: unknown[] = [];
const log = await WatchLog.open(file, { flushIntervalMs: 5, onError: (err) => errors.push(err) });
let threw = false;
try {
  log.record({
    path: 'a.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.1', userAgent: 'UA', status: 206,
    range: 'bytes=0-9', ranges: [{ start: 0, end: 9 }], bytesSent: 10, aborted: false, size: 100,
    startedAt: Date.now(), durationMs: 1,
  });
} catch {
  threw = true;
}
const deadline = Date.now() + 5000;
while (errors.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
const pending = log.pending;
log.close();
process.stdout.write(JSON.stringify({
  uid: process.getuid?.() ?? -1,
  threw,
  pending,
  dropped: log.dropped,
  errors: errors.map((err) => (err instanceof Error ? err.message : String(err))),
  codes: errors.map((err) => String((err as { code?: unknown }).code)),
}));

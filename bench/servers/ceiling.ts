// The ceiling: node:http answering from memory, with the headers sage-stream sends (Content-Type,
// Content-Length, Content-Range, Accept-Ranges, Last-Modified, ETag, Cache-Control,
// X-Content-Type-Options; Node adds Date and Keep-Alive). No file system on the request path:
// what Node's HTTP layer alone can do on this machine.
// `node bench/servers/ceiling.ts <root> <name> <max-bytes>` holds /f/<name> in memory when it is at
// most <max-bytes>, otherwise only its first 64 KiB (enough for the tiny-range scenario; other
// ranges get 503 and the suite does not run it there). Prints a ServerReady line.
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { listen, parseSingleRange, withEventLoopReport } from './common.ts';

const PREFIX_BYTES = 64 * 1024;
const [root, name, maxArg] = process.argv.slice(2);
const maxBytes = Number(maxArg);
if (root === undefined || name === undefined || !Number.isInteger(maxBytes)) {
  process.stderr.write('usage: node bench/servers/ceiling.ts <root> <name> <max-bytes>\n');
  process.exit(2);
}

const fd = openSync(join(root, name), 'r');
const stats = fstatSync(fd);
const size = stats.size;
const held = Buffer.allocUnsafeSlow(Math.min(size, size <= maxBytes ? size : PREFIX_BYTES));
for (let at = 0; at < held.length; ) at += readSync(fd, held, at, held.length - at, at);
closeSync(fd);

const path = `/f/${encodeURIComponent(name)}`;
const common = [
  'Accept-Ranges', 'bytes',
  'Last-Modified', stats.mtime.toUTCString(),
  'ETag', `"${size.toString(36)}-${Math.floor(stats.mtimeMs * 1e3).toString(36)}"`,
  'Cache-Control', 'public, max-age=0, must-revalidate',
  'X-Content-Type-Options', 'nosniff',
];

const server = http.createServer(
  withEventLoopReport((req, res) => {
    if (req.url !== path) return void res.writeHead(404).end();
    const range = parseSingleRange(req.headers.range, size);
    if (range.kind === 'unsatisfiable') return void res.writeHead(416, ['Content-Range', `bytes */${size}`]).end();
    const { start, end } = range;
    if (end >= held.length) return void res.writeHead(503).end();
    const body = held.subarray(start, end + 1);
    const head = ['Content-Type', 'application/octet-stream', 'Content-Length', String(body.length)];
    if (range.kind === 'range') head.push('Content-Range', `bytes ${start}-${end}/${size}`);
    res.writeHead(range.kind === 'range' ? 206 : 200, [...head, ...common]).end(body);
  }),
);
listen(server);

// The naive baseline: `fs.createReadStream(file, { start, end }).pipe(res)` behind a minimal Range
// parse, as many tutorials write it (and with their flaw: nothing closes the file when the client
// leaves early). `node bench/servers/naive.ts <root>`; serves /f/<name>, prints a ServerReady line.
import { createReadStream, stat } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { listen, parseSingleRange, withEventLoopReport } from './common.ts';

const root = process.argv[2];
if (root === undefined) {
  process.stderr.write('usage: node bench/servers/naive.ts <root>\n');
  process.exit(2);
}

const server = http.createServer(withEventLoopReport((req, res) => {
  const file = join(root, decodeURIComponent((req.url ?? '').slice('/f/'.length)));
  stat(file, (err, stats) => {
    if (err !== null || !stats.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const size = stats.size;
    const range = parseSingleRange(req.headers.range, size);
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const { start, end } = range;
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      'Accept-Ranges': 'bytes',
    };
    if (range.kind === 'range') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range.kind === 'range' ? 206 : 200, headers);
    createReadStream(file, { start, end }).pipe(res);
  });
}));
listen(server);

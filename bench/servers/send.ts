// `send` (Express's static engine, what `express.static` runs) on plain node:http, called the
// way serve-static calls it: `send(req, pathname, { root }).pipe(res)`, errors to a status.
// `node bench/servers/send.ts <root>`; serves /f/<name>, prints a ServerReady line.
import http from 'node:http';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { listen, rootArg, withEventLoopReport } from './common.ts';

type SendStream = {
  on(event: 'error', listener: (err: { status?: number; statusCode?: number }) => void): SendStream;
  pipe(res: http.ServerResponse): http.ServerResponse;
};
type Send = (req: Readable, path: string, options: { readonly root: string }) => SendStream;

// send 1.x ships no types: CommonJS through require, typed by what we call.
const send = createRequire(import.meta.url)('send') as Send;
const root = rootArg('send.ts');

const server = http.createServer(
  withEventLoopReport((req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const pathname = (query < 0 ? url : url.slice(0, query)).slice('/f'.length);
    send(req, pathname, { root })
      .on('error', (err) => {
        res.statusCode = err.status ?? err.statusCode ?? 500;
        res.end();
      })
      .pipe(res);
  }),
);
listen(server);

// @fastify/send (what @fastify/static runs) on plain node:http, as its README shows:
// `const { statusCode, headers, stream } = await send(req, path, { root })`, then pipe.
// `node bench/servers/fastify-send.ts <root>`; serves /f/<name>, prints a ServerReady line.
import send from '@fastify/send';
import http from 'node:http';
import { listen, rootArg, withEventLoopReport } from './common.ts';

const root = rootArg('fastify-send.ts');

const server = http.createServer(
  withEventLoopReport((req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const pathname = (query < 0 ? url : url.slice(0, query)).slice('/f'.length);
    send(req, pathname, { root }).then(
      ({ statusCode, headers, stream }) => {
        res.writeHead(statusCode, headers);
        stream.pipe(res);
      },
      () => res.writeHead(500).end(),
    );
  }),
);
listen(server);

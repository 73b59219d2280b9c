// sirv (what Polka and SvelteKit's preview serve with) on plain node:http, in its production
// mode: it stats the whole folder once at startup and serves from that table.
// `node bench/servers/sirv.ts <root>`; serves /f/<name>, prints a ServerReady line.
import http from 'node:http';
import sirv from 'sirv';
import { listen, rootArg, withEventLoopReport } from './common.ts';

const root = rootArg('sirv.ts');
const serve = sirv(root, { dev: false, etag: true, dotfiles: false });

const server = http.createServer(
  withEventLoopReport((req, res) => {
    // sirv maps the URL path onto its folder: drop our /f prefix.
    req.url = (req.url ?? '').slice('/f'.length);
    serve(req, res, () => {
      res.writeHead(404).end();
    });
  }),
);
listen(server);

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { parseCli, type CliCommand } from '../../src/cli/args.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { receive } from '../helpers/server.ts';
import { parsePrometheus, sample } from '../helpers/prometheus.ts';
import { ROOT, runCli, startCli, stopCli, waitForOutput } from '../helpers/cli.ts';

const fixtures = createFixtures('sage-stream-cli-ops-');
const CLIP_SIZE = 200_000;
before(() => {
  fixtures.file('clip.mp4', CLIP_SIZE);
  fixtures.write('token.txt', 'file-token-0123456\n');
  fixtures.write('empty.txt', '\n');
});
after(() => fixtures.remove());

// The combined format, as a log analyser reads it back.
const COMBINED = /^(\S+) - - \[(\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(\S+) (\S+) HTTP\/([\d.]+)" (\d{3}) (\d+) "((?:[^"\\]|\\x[0-9A-F]{2})*)" "((?:[^"\\]|\\x[0-9A-F]{2})*)" (\d+\.\d{3})$/;

function config(command: CliCommand): Extract<CliCommand, { kind: 'serve' }>['config'] {
  assert.equal(command.kind, 'serve', JSON.stringify(command));
  return (command as Extract<CliCommand, { kind: 'serve' }>).config;
}

describe('parseCli: the operator flags', () => {
  const cwd = fixtures.dir;
  it('sage-stream DIR means serve DIR; -p is --port', () => {
    const c = config(parseCli(['.', '-p', '0'], cwd, {}));
    assert.equal(c.dir, cwd);
    assert.equal(c.port, 0);
  });
  it('-v and --version', () => {
    assert.deepEqual(parseCli(['-v'], cwd, {}), { kind: 'version' });
    assert.deepEqual(parseCli(['--version'], cwd, {}), { kind: 'version' });
  });
  it('--access-log defaults to combined; json and off', () => {
    assert.equal(config(parseCli(['.'], cwd, {})).accessLog, 'combined');
    assert.equal(config(parseCli(['.', '--access-log', 'json'], cwd, {})).accessLog, 'json');
    assert.equal(config(parseCli(['.', '--access-log', 'off'], cwd, {})).accessLog, 'off');
  });
  it('--trust-proxy: repeated and comma-separated', () => {
    assert.deepEqual(config(parseCli(['.', '--trust-proxy', 'loopback,10.0.0.0/8', '--trust-proxy', 'private'], cwd, {})).trustProxy, [
      'loopback',
      '10.0.0.0/8',
      'private',
    ]);
  });
  it('--tls-cert and --tls-key resolve against cwd', () => {
    assert.deepEqual(config(parseCli(['.', '--tls-cert', 'token.txt', '--tls-key', 'token.txt'], cwd, {})).tls, {
      cert: join(cwd, 'token.txt'),
      key: join(cwd, 'token.txt'),
    });
  });
  it('--cache-control', () => {
    assert.equal(config(parseCli(['.', '--cache-control', 'public, max-age=3600'], cwd, {})).cacheControl, 'public, max-age=3600');
  });
  it('--shutdown-grace: seconds, default 5, 0 allowed', () => {
    assert.equal(config(parseCli(['.'], cwd, {})).shutdownGraceMs, 5000);
    assert.equal(config(parseCli(['.', '--shutdown-grace', '0'], cwd, {})).shutdownGraceMs, 0);
    assert.equal(config(parseCli(['.', '--shutdown-grace', '1.5'], cwd, {})).shutdownGraceMs, 1500);
    assert.equal(config(parseCli(['.', '--shutdown-grace', '3600'], cwd, {})).shutdownGraceMs, 3_600_000);
  });
  it('--admin-token-file wins over the environment; --admin-token over neither', () => {
    assert.equal(config(parseCli(['.', '--admin-token-file', 'token.txt'], cwd, { SAGE_STREAM_ADMIN_TOKEN: 'env' })).adminToken, 'file-token-0123456');
    assert.equal(config(parseCli(['.'], cwd, { SAGE_STREAM_ADMIN_TOKEN: 'env-token-0123456' })).adminToken, 'env-token-0123456');
  });
  const errors: ReadonlyArray<{ args: string[]; want: RegExp }> = [
    { args: ['.', '--access-log', 'common'], want: /^--access-log must be combined, json or off, got 'common'$/ },
    { args: ['.', '--trust-proxy', '10.0.0.0/40'], want: /^--trust-proxy: '10\.0\.0\.0\/40' is not an IP address, a CIDR range, 'loopback' or 'private'$/ },
    { args: ['.', '--tls-cert', 'token.txt'], want: /^give both --tls-cert and --tls-key$/ },
    { args: ['.', '--tls-cert', 'nope.pem', '--tls-key', 'token.txt'], want: /^--tls-cert: cannot read .*nope\.pem \(ENOENT\)$/ },
    { args: ['.', '--cache-control', 'a\nb'], want: /^--cache-control must be a header value/ },
    { args: ['.', '--shutdown-grace=-1'], want: /^--shutdown-grace must be a number of seconds from 0 to 3600, got "-1"$/ },
    { args: ['.', '--shutdown-grace', '5s'], want: /^--shutdown-grace must be a number of seconds from 0 to 3600, got "5s"$/ },
    { args: ['.', '--shutdown-grace', '3601'], want: /^--shutdown-grace must be a number of seconds from 0 to 3600/ },
    { args: ['.', '--shutdown-grace', ''], want: /^--shutdown-grace must be a number of seconds from 0 to 3600, got ""$/ },
    { args: ['.', '--admin-token-file', 'nope.txt'], want: /^--admin-token-file: cannot read .*nope\.txt \(ENOENT\)$/ },
    { args: ['.', '--admin-token-file', 'empty.txt'], want: /^--admin-token-file .*empty\.txt is empty$/ },
    { args: ['.', '--admin-token-file', 'token.txt', '--admin-token', 'x'], want: /^give either --admin-token or --admin-token-file, not both$/ },
    { args: ['sign', 'a.mp4', '--access-log', 'off'], want: /^--access-log is not an option of sign$/ },
    { args: ['.', '-p'], want: /^option '--port' needs a value$/ },
  ];
  for (const { args, want } of errors) {
    it(`${args.join(' ')} → ${want.source}`, () => {
      const got = parseCli(args, cwd, {});
      assert.equal(got.kind, 'error');
      assert.match((got as { message: string }).message, want);
    });
  }
});

describe('the CLI as an operator runs it', { timeout: 120_000 }, () => {
  it('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(await runCli(['-v']), { code: 0, stdout: `sage-stream ${version}\n`, stderr: '' });
  });

  for (const { name, args, want } of [
    { name: 'a missing root', args: ['/no/such/folder'], want: /^sage-stream: folder not found: \/no\/such\/folder \(see sage-stream --help\)\n$/ },
    { name: 'a root that is a file', args: [join(ROOT, 'package.json')], want: /^sage-stream: not a folder: .*package\.json \(see sage-stream --help\)\n$/ },
  ]) {
    it(`${name}: one line, exit 2`, async () => {
      const got = await runCli([...args, '-p', '0']);
      assert.equal(got.code, 2);
      assert.equal(got.stdout, '');
      assert.match(got.stderr, want);
    });
  }

  it('prints one combined line per response (stream, page, 404), escaped, with the client through a trusted CIDR', async () => {
    const cli = await startCli([fixtures.dir, '-p', '0', '--no-log', '--trust-proxy', '127.0.0.0/8']);
    try {
      const url = cli.lines.get('page')!;
      assert.match(cli.lines.get('log')!, /^off/);
      const ranged = await receive(url, {
        path: '/api/stream?path=clip.mp4',
        headers: { Range: 'bytes=100-199', 'User-Agent': 'agent "quoted"\tTab', 'X-Forwarded-For': '198.51.100.7', Referer: 'http://ref.test/' },
        agent: false,
      });
      assert.deepEqual(ranged.body, pattern(100, 199));
      const page = await receive(url, { path: '/', agent: false });
      assert.equal(page.status, 200);
      const missing = await receive(url, { path: '/nothing-here', agent: false });
      assert.equal(missing.status, 404);
      const text = await waitForOutput(cli, cli.stdout, (out) => out.split('\n').filter((l) => COMBINED.test(l)).length >= 3);
      const lines = text.split('\n').filter((l) => COMBINED.test(l)).map((l) => COMBINED.exec(l)!);
      const [first, second, third] = lines;
      assert.equal(first![1], '198.51.100.7');
      assert.deepEqual([first![3], first![4], first![5], first![6], first![7]], ['GET', '/api/stream?path=clip.mp4', '1.1', '206', '100']);
      assert.equal(first![8], 'http://ref.test/');
      assert.equal(first![9], 'agent \\x22quoted\\x22\\x09Tab');
      assert.ok(Math.abs(Date.parse(first![2]!.replace(':', ' ')) - Date.now()) < 60_000, first![2]);
      assert.deepEqual([second![4], second![6], second![7]], ['/', '200', String(page.body.length)]);
      assert.equal(second![1], '127.0.0.1', 'no X-Forwarded-For: the peer');
      assert.deepEqual([third![4], third![6], third![7]], ['/nothing-here', '404', String(missing.body.length)]);
    } finally {
      await stopCli(cli);
    }
  });

  it('--access-log json: JSON lines with range, aborted and duration; off prints none', async () => {
    const cli = await startCli([fixtures.dir, '-p', '0', '--no-log', '--access-log', 'json']);
    try {
      const url = cli.lines.get('page')!;
      const got = await receive(url, { path: '/videos/clip.mp4', headers: { Range: 'bytes=-10' }, agent: false });
      assert.deepEqual(got.body, pattern(CLIP_SIZE - 10, CLIP_SIZE - 1));
      const text = await waitForOutput(cli, cli.stdout, (out) => out.includes('{"time"'));
      const entry = JSON.parse(text.split('\n').find((l) => l.startsWith('{'))!) as Record<string, unknown>;
      assert.equal(entry['url'], '/videos/clip.mp4');
      assert.equal(entry['status'], 206);
      assert.equal(entry['bytesSent'], 10);
      assert.equal(entry['range'], 'bytes=-10');
      assert.equal(entry['aborted'], false);
      assert.equal(typeof entry['durationMs'], 'number');
    } finally {
      await stopCli(cli);
    }
    const quiet = await startCli([fixtures.dir, '-p', '0', '--no-log', '--access-log', 'off']);
    try {
      const got = await receive(quiet.lines.get('page')!, { path: '/api/stream?path=clip.mp4', headers: { Range: 'bytes=0-0' }, agent: false });
      assert.equal(got.status, 206);
    } finally {
      await stopCli(quiet);
    }
    assert.doesNotMatch(quiet.stdout(), /HTTP\/1\.1"|"time"/);
  });

  it('/metrics needs the admin token (from a file) and its counters move with requests; the log line names the file and what it stores', async () => {
    const log = fixtures.path('plays.db');
    const cli = await startCli([fixtures.dir, '-p', '0', '--log', log, '--admin-token-file', fixtures.path('token.txt'), '--access-log', 'off']);
    try {
      assert.equal(cli.lines.get('log'), `${log} (stores client IP addresses and User-Agents; --no-log turns it off)`);
      const url = cli.lines.get('page')!;
      assert.match(cli.lines.get('metrics')!, /\/metrics \(Authorization: Bearer <admin token>\)$/);
      assert.equal((await receive(url, { path: '/metrics', agent: false })).status, 401);
      const scrape = async () => {
        const got = await receive(url, { path: '/metrics', headers: { Authorization: 'Bearer file-token-0123456' }, agent: false });
        assert.equal(got.status, 200);
        return parsePrometheus(got.body.toString());
      };
      const before = await scrape();
      for (let i = 0; i < 3; i++) {
        const got = await receive(url, { path: '/api/stream?path=clip.mp4', headers: { Range: 'bytes=0-999' }, agent: false });
        assert.deepEqual(got.body, pattern(0, 999));
      }
      // The last response is counted when its handler is done, which may be just after the client has it.
      let after = await scrape();
      for (let i = 0; i < 20 && sample(after, 'sage_stream_requests_total{code="2xx"}') - sample(before, 'sage_stream_requests_total{code="2xx"}') < 3; i++) after = await scrape();
      const delta = (series: string): number => sample(after, series) - sample(before, series);
      assert.equal(delta('sage_stream_requests_total{code="2xx"}'), 3);
      assert.equal(delta('sage_stream_sent_bytes_total'), 3000);
      assert.ok(delta('sage_stream_read_bytes_total') >= 3000);
      assert.equal(delta('sage_stream_open_file_cache_hits_total'), 2);
      assert.ok(sample(after, 'sage_stream_watch_log_pending_entries') >= 0);
      assert.equal(sample(after, 'sage_stream_watch_log_dropped_entries_total'), 0);
      assert.ok(sample(after, 'process_open_fds') > 0);
    } finally {
      await stopCli(cli);
    }
  });

  it('--tls-cert/--tls-key: HTTP/2 over ALPN, HTTP/1.1 fallback, SIGHUP serves a new certificate and keeps open connections', async (t) => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      if (process.env['SAGE_STREAM_REQUIRE_OPENSSL'] === '1') throw new Error('openssl is required (SAGE_STREAM_REQUIRE_OPENSSL=1)');
      return t.skip('openssl is not installed');
    }
    const makeCert = (name: string, cn: string): { cert: string; key: string } => {
      const cert = fixtures.path(`${name}.crt`);
      const key = fixtures.path(`${name}.key`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
      return { cert, key };
    };
    const live = makeCert('live', 'first.test');
    const next = makeCert('next', 'second.test');
    const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;
    const firstPrint = fingerprint(live.cert);
    const nextPrint = fingerprint(next.cert);
    const cli = await startCli([fixtures.dir, '-p', '0', '--no-log', '--access-log', 'json', '--tls-cert', live.cert, '--tls-key', live.key]);
    const session = http2.connect(cli.lines.get('page')!, { rejectUnauthorized: false });
    try {
      const origin = cli.lines.get('page')!;
      assert.match(origin, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const h2get = (range: string): Promise<{ status: number; body: Buffer }> =>
        new Promise((resolve, reject) => {
          const stream = session.request({ ':path': '/api/stream?path=clip.mp4', range });
          const chunks: Buffer[] = [];
          let status = 0;
          stream.on('response', (headers) => (status = Number(headers[':status'])));
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
          stream.on('error', reject);
        });
      const first = await h2get('bytes=1000-1999');
      assert.equal(first.status, 206);
      assert.deepEqual(first.body, pattern(1000, 1999));
      assert.equal((session.socket as TLSSocket).alpnProtocol, 'h2');
      assert.equal(new X509Certificate((session.socket as TLSSocket).getPeerX509Certificate()!.raw).fingerprint256, firstPrint);

      const https1 = (): Promise<{ status: number; version: string; body: Buffer; print: string }> =>
        new Promise((resolve, reject) => {
          const req = https.get(`${origin}api/stream?path=clip.mp4`, { rejectUnauthorized: false, agent: false, headers: { Range: 'bytes=0-99' } }, (res) => {
            const chunks: Buffer[] = [];
            const print = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion, body: Buffer.concat(chunks), print }));
          });
          req.on('error', reject);
        });
      const old = await https1();
      assert.deepEqual([old.status, old.version, old.print], [206, '1.1', firstPrint]);
      assert.deepEqual(old.body, pattern(0, 99));

      // Replace the files (as certbot does), then SIGHUP.
      renameSync(next.cert, live.cert);
      renameSync(next.key, live.key);
      cli.child.kill('SIGHUP');
      await waitForOutput(cli, cli.stderr, (err) => err.includes('SIGHUP: TLS certificate and key re-read'));
      const renewed = await https1();
      assert.deepEqual([renewed.status, renewed.print], [206, nextPrint]);
      assert.deepEqual(renewed.body, pattern(0, 99));
      // The HTTP/2 connection opened before the reload is still open and serving.
      const again = await h2get('bytes=5-9');
      assert.deepEqual([again.status, again.body], [206, pattern(5, 9)]);
      assert.equal(session.closed, false);
      // The line is written when the handler is done, which may be just after the client has the body.
      const h2count = (out: string): number => out.split('\n').filter((l) => l.includes('"httpVersion":"2.0"')).length;
      await waitForOutput(cli, cli.stdout, (out) => h2count(out) >= 2);
      assert.equal(h2count(cli.stdout()), 2, cli.stdout());
      // A status answer over HTTP/2 counts its body once (node:http2's end() calls write()).
      const missing = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const stream = session.request({ ':path': '/nothing-here' });
        const chunks: Buffer[] = [];
        let status = 0;
        stream.on('response', (headers) => (status = Number(headers[':status'])));
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
        stream.on('error', reject);
      });
      assert.deepEqual([missing.status, missing.body.toString()], [404, 'Not Found\n']);
      const logged = await waitForOutput(cli, cli.stdout, (out) => out.includes('"url":"/nothing-here"'));
      const line = JSON.parse(logged.split('\n').find((l) => l.includes('"url":"/nothing-here"'))!) as { bytesSent: number; httpVersion: string };
      assert.deepEqual([line.httpVersion, line.bytesSent], ['2.0', 10]);
      // A bad certificate on SIGHUP keeps the old one, and says so.
      writeFileSync(live.cert, 'not a certificate');
      cli.child.kill('SIGHUP');
      await waitForOutput(cli, cli.stderr, (err) => err.includes('SIGHUP: kept the old certificate'));
      assert.equal((await https1()).print, nextPrint);
    } finally {
      session.close();
      await stopCli(cli);
    }
  });

  it("the Dockerfile's command line serves (its paths mapped to temporary folders, port 0)", async () => {
    const dockerfile = readFileSync(join(ROOT, 'sample', 'deploy', 'Dockerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const command = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    assert.deepEqual(entrypoint, ['sage-stream']);
    assert.ok(command.includes('0.0.0.0'), 'listens on every address inside the container');
    const data = fixtures.path('data');
    execFileSync('mkdir', ['-p', data]);
    const args = command.map((arg) => arg.replace(/^\/media$/, fixtures.dir).replace(/^\/data\//, `${data}/`));
    const cli = await startCli([...args, '-p', '0'], { SAGE_STREAM_ADMIN_TOKEN: 'docker-token-0123456' });
    try {
      const port = new URL(cli.lines.get('page')!).port;
      const got = await receive(`http://127.0.0.1:${port}`, { path: '/api/stream?path=clip.mp4', headers: { Range: 'bytes=10-20' }, agent: false });
      assert.deepEqual(got.body, pattern(10, 20));
    } finally {
      await stopCli(cli);
    }
    assert.ok(existsSync(join(data, 'watch.db')), 'the watch log is written in the volume');
  });

  it('the systemd unit passes systemd-analyze verify (when the tool is here)', (t) => {
    let tool = true;
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    } catch {
      tool = false;
    }
    if (!tool) return t.skip('systemd-analyze is not installed');
    // verify checks that ExecStart's binary exists: point it at a stand-in.
    const bin = fixtures.write('bin/sage-stream', '#!/bin/sh\n');
    chmodSync(bin, 0o755);
    const unit = readFileSync(join(ROOT, 'sample', 'deploy', 'sage-stream.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/sage-stream /m);
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^User=sage-stream$/m);
    assert.match(unit, /^ReadOnlyPaths=\/srv\/videos$/m);
    const file = fixtures.write('sage-stream.service', unit.replace('/usr/local/bin/sage-stream', bin));
    const out = execFileSync('systemd-analyze', ['verify', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out, '');
  });
});

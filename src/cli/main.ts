#!/usr/bin/env node
import cluster, { type Worker } from 'node:cluster';
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { signUrl } from '../serve/signed-url.ts';
import { ADMIN_TOKEN_ENV, USAGE, parseCli, type ServeConfig } from './args.ts';
import { newAdminToken, startServer, startupLines, urlHost, type RunningServer, type TokenDisplay } from './demo-server.ts';
import { writeAdminTokenFile } from './admin-token.ts';

/**
 * Runs the command line: prints help or a one-line error (exit 2), or starts the server, prints
 * its URLs and stops cleanly on SIGINT/SIGTERM (exit 0). With `--workers N` this process forks
 * N workers that share the port and forwards the signal to them.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const command = parseCli(argv);
  switch (command.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return;
    case 'version':
      process.stdout.write(`sage-stream ${packageVersion()}\n`);
      return;
    case 'error':
      process.stderr.write(`sage-stream: ${command.message} (see sage-stream --help)\n`);
      process.exitCode = 2;
      return;
    case 'sign':
      try {
        process.stdout.write(`${signUrl(command.path, command.options)}\n`);
      } catch (err) {
        // parseCli checked everything; only an --expires-at that has passed since gets here.
        process.stderr.write(`sage-stream: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      }
      return;
    case 'serve':
      break;
  }
  // A token we make up goes to a 0600 file next to the log (in the URL only with --show-token),
  // so its owner can open the viewer; one you chose is never printed.
  const generated = command.config.log !== false && command.config.adminToken === undefined;
  if (command.workers !== undefined && cluster.isPrimary) {
    // Every worker must accept the same token: they read it from the environment they inherit.
    const config = generated ? { ...command.config, adminToken: newAdminToken() } : command.config;
    if (config.adminToken !== undefined) process.env[ADMIN_TOKEN_ENV] = config.adminToken;
    const token = generated ? saveToken(config, command.showToken) : { show: command.showToken };
    if (token === undefined) return;
    return runPrimary(config, command.workers, token);
  }
  const worker = cluster.isWorker;

  let running: RunningServer;
  try {
    running = await startServer(command.config);
  } catch (err) {
    process.stderr.write(`sage-stream: ${describeListenError(err, command.config)}\n`);
    // 2, like a bad argument: the command line asked for something this machine cannot give.
    process.exitCode = 2;
    if (worker) process.exit(2);
    return;
  }

  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      void running.close(0);
      return;
    }
    if (!worker) {
      process.stderr.write(`sage-stream: ${signal}: finishing responses in flight (up to ${running.config.shutdownGraceMs / 1000} s; again to stop now)\n`);
    }
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`sage-stream: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  // A worker leaves SIGINT (Ctrl-C reaches the whole process group) to the primary, which
  // sends it one SIGTERM per Ctrl-C: the first drains, the second cuts.
  if (worker) process.on('SIGINT', () => {});
  else process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (command.config.tls !== undefined) {
    process.on('SIGHUP', () => {
      try {
        running.reloadTls();
        process.stderr.write(`${new Date().toISOString()} sage-stream: SIGHUP: TLS certificate and key re-read\n`);
      } catch (err) {
        process.stderr.write(`${new Date().toISOString()} sage-stream: SIGHUP: kept the old certificate: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    });
  }
  if (worker) return;
  const token = generated ? saveToken(running.config, command.showToken) : { show: command.showToken };
  if (token === undefined) return void running.close(0);
  // Printed only once the handlers are in place: a script may signal as soon as it reads the URL.
  process.stdout.write(`${(await startupLines(running.url, running.config, token)).join('\n')}\n`);
}

/** Writes a generated token to its file; on failure says so (exit 1) and returns undefined. */
function saveToken(config: ServeConfig, show: boolean): TokenDisplay | undefined {
  if (config.log === false || config.adminToken === undefined) return { show };
  try {
    return { show, file: writeAdminTokenFile(config.log, config.adminToken) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    process.stderr.write(`sage-stream: cannot write the admin token file next to ${config.log} (${code}); give --admin-token\n`);
    process.exitCode = 1;
    return undefined;
  }
}

/** The version in package.json (../../package.json from src/cli/ and from dist/cli/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function describeListenError(err: unknown, config: ServeConfig): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `port ${config.port} on ${config.host} is already in use`;
  if (code === 'EACCES') return `not allowed to listen on port ${config.port} on ${config.host}`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return `cannot listen on host ${config.host} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * The cluster primary: forks the workers (each runs `main` with the same arguments and listens
 * on the same port, which the primary shares out), prints the URLs once all listen, and on
 * SIGINT/SIGTERM passes SIGTERM to each worker and exits 0 once they have all exited. A worker
 * that exits on its own stops the rest (exit 1): restarting is the process manager's job.
 */
function runPrimary(config: ServeConfig, count: number, token: TokenDisplay): void {
  const workers = new Set<Worker>();
  let listening = 0;
  let exitCode: number | undefined;
  let deadline: NodeJS.Timeout | undefined;

  const stopAll = (code: number): void => {
    if (exitCode !== undefined) return;
    exitCode = code;
    for (const worker of workers) worker.process.kill('SIGTERM');
    // A worker stuck past its own grace period is killed.
    deadline = setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL');
    }, config.shutdownGraceMs + 2000);
    if (workers.size === 0) process.exit(code);
  };

  cluster.on('listening', (_worker, address) => {
    listening += 1;
    if (listening !== count || exitCode !== undefined) return;
    const url = `${config.tls === undefined ? 'http' : 'https'}://${urlHost(config.host)}:${address.port}/`;
    void startupLines(url, config, token).then((lines) => {
      process.stdout.write(`${lines.join('\n')}\nworkers ${count}\n`);
    });
  });
  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker);
    if (exitCode === undefined) {
      process.stderr.write(`sage-stream: worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); stopping\n`);
      stopAll(1);
    }
    if (workers.size === 0) {
      clearTimeout(deadline);
      process.exit(exitCode);
    }
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (exitCode !== undefined) {
      for (const worker of workers) worker.process.kill('SIGTERM'); // a second signal: cut now
      return;
    }
    process.stderr.write(`sage-stream: ${signal}: stopping ${workers.size} workers (up to ${config.shutdownGraceMs / 1000} s)\n`);
    stopAll(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Each worker re-reads the certificate itself.
  if (config.tls !== undefined) process.on('SIGHUP', () => workers.forEach((worker) => worker.process.kill('SIGHUP')));
  for (let i = 0; i < count; i++) workers.add(cluster.fork());
}


/** Whether this module is the program being run (`node cli.ts`, or the `sage-stream` bin, a symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main(process.argv.slice(2));

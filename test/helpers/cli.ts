import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { receive, type Received } from './server.ts';

export const ROOT: string = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

/** The CLI as a child process, its output collected as it comes. */
export type Cli = {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Starts `sage-stream <args>` on Node's own type stripping (no tsx loader: it costs each child start-up), with the admin-token and secret variables cleared. */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SAGE_STREAM_ADMIN_TOKEN: '', SAGE_STREAM_SIGNING_SECRET: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the CLI to completion. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = spawnCli(args, env);
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Waits until `test(text)` holds for the output `read()` returns, or fails after `ms`. */
export async function waitForOutput(cli: Cli, read: () => string, test: (text: string) => boolean, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = read();
    if (test(text)) return text;
    const exit = await Promise.race([cli.exited, new Promise((resolve) => setTimeout(resolve, 20))]);
    if (exit !== undefined) assert.fail(`the CLI exited: ${JSON.stringify(exit)}\n${cli.stdout()}\n${cli.stderr()}`);
    if (Date.now() > deadline) {
      cli.child.kill('SIGKILL');
      await cli.exited;
      assert.fail(`output did not arrive in ${ms} ms:\n${cli.stdout()}\n${cli.stderr()}`);
    }
  }
}

/** Starts the CLI with `args` as given and waits for its start-up lines; returns them by name. */
export async function startCli(args: readonly string[], env: Record<string, string> = {}): Promise<Cli & { readonly lines: Map<string, string> }> {
  const cli = spawnCli(args, env);
  const text = await waitForOutput(cli, cli.stdout, (out) => /^admin /m.test(out));
  const lines = new Map<string, string>();
  for (const match of text.matchAll(/^(\w+) +(.+)$/gm)) lines.set(match[1] ?? '', match[2] ?? '');
  return { ...cli, lines };
}

/** Sends SIGTERM and waits (bounded) for exit 0. */
export async function stopCli(cli: Cli): Promise<void> {
  // Already gone (a failed wait killed it): leave the failure that did it to speak.
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([cli.exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000)))]);
  clearTimeout(timer);
  if (exit === undefined) {
    cli.child.kill('SIGKILL');
    assert.fail(`still running 10 s after SIGTERM\n${cli.stderr()}`);
  }
  assert.equal(exit.code, 0, cli.stderr());
}

/** One request on a fresh connection (no keep-alive: a test's connections never hold up a shutdown). */
export function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Received> {
  return receive(url, { method, headers, agent: false });
}

/** Starts `serve` and waits for the startup lines; returns the page URL read from them. */
export async function serveCli(args: readonly string[]): Promise<Cli & { readonly url: string; readonly lines: Map<string, string> }> {
  const cli = spawnCli(['serve', '--port', '0', ...(args.includes('--log') ? [] : ['--no-log']), ...args]);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lines = new Map<string, string>();
    for (const match of cli.stdout().matchAll(/^(\w+) +(\S+)/gm)) lines.set(match[1] ?? '', match[2] ?? '');
    const url = lines.get('page');
    if (url !== undefined && lines.has('admin')) return { ...cli, url, lines };
    const exit = await Promise.race([cli.exited, new Promise((resolve) => setTimeout(resolve, 25))]);
    if (exit !== undefined) throw new Error(`the CLI exited before listening: ${JSON.stringify(exit)}\n${cli.stderr()}`);
    if (Date.now() > deadline) {
      cli.child.kill('SIGKILL');
      throw new Error(`no startup lines after 15 s:\n${cli.stdout()}\n${cli.stderr()}`);
    }
  }
}

/** Waits for the process to exit, at most `ms`; kills it and fails past that. */
export async function exitWithin(cli: Cli, ms: number): Promise<{ code: number | null; elapsedMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  const exit = await Promise.race([cli.exited, timeout]);
  clearTimeout(timer);
  if (exit === undefined) {
    cli.child.kill('SIGKILL');
    assert.fail(`still running ${ms} ms after the signal\n${cli.stderr()}`);
  }
  return { code: exit.code, elapsedMs: Date.now() - started };
}

/** Whether anything accepts connections on the port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

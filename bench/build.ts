import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeOnExit } from './processes.ts';

/** Where sage.ts finds the package to serve with: the compiled entry point, when set. */
export const ENTRY_VARIABLE = 'SAGE_STREAM_BENCH_ENTRY';

const PROJECT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Compiles src/ to JavaScript in a folder of its own (removed at exit) and returns its entry
 * point, so sage is measured as users run it (from dist/): Node's type stripping of ~90 source
 * files alone adds ~18 MiB to a process's resident memory, which the slow-client scenario
 * would count against sage. A folder of its own, not dist/: `npm pack` (the package test)
 * deletes and rebuilds dist/ and may run at the same time.
 */
export function buildForBench(project: string = PROJECT): string {
  const outDir = mkdtempSync(join(tmpdir(), 'sage-stream-bench-build-'));
  removeOnExit(outDir);
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const built = spawnSync(process.execPath, [tsc, '-p', join(project, 'tsconfig.build.json'), '--outDir', outDir], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building src/ for the bench failed:\n${built.stdout}${built.stderr}`);
  return join(outDir, 'index.js');
}

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * A system tool a test needs: exactly the path in `envVar` when it is set (a path that does not
 * exist simulates a machine without the tool), else the first of `names` on PATH, /usr/bin or
 * /usr/local/bin. Undefined when there is none, so the test can skip (or fail under CI's
 * SAGE_STREAM_REQUIRE_* variables).
 */
export function findTool(envVar: string, names: readonly string[]): string | undefined {
  const named = process.env[envVar];
  if (named !== undefined && named !== '') return isExecutable(named) ? named : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    for (const name of names) {
      const path = join(dir, name);
      if (isExecutable(path)) return path;
    }
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

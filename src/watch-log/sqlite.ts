/** The first Node.js release whose `node:sqlite` loads without a flag. */
export const SQLITE_NODE_VERSION = '22.13.0';

/**
 * Loads `node:sqlite`, or throws one clear line when this Node.js has none (before 22.13 it is
 * missing, or behind `--experimental-sqlite`): the version needed, the one running, and that
 * streaming itself works without the watch log (`--no-log`, or no `watchLog` option).
 */
export async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  try {
    return await import('node:sqlite');
  } catch (cause) {
    throw new Error(
      `the watch log needs node:sqlite, in Node.js ${SQLITE_NODE_VERSION} or later (this is ${runtimeName()}); ` +
        'upgrade Node.js, or run without the watch log (--no-log)',
      { cause },
    );
  }
}

/** Bun and Deno set process.versions.node too; name the runtime that is really running. */
function runtimeName(): string {
  const { bun, deno } = process.versions as { bun?: string; deno?: string };
  if (bun !== undefined) return `Bun ${bun}`;
  if (deno !== undefined) return `Deno ${deno}`;
  return `Node.js ${process.version}`;
}

// Makes an installable git commit: the current HEAD plus the built dist/, with package.json's
// build scripts removed, tagged v<version> (and the branch `dist` moved to it). Installing that
// ref from git (npm install git+https://…/sage-stream.git#semver:^0.1.0) needs no build, no
// devDependencies and no script approval; HEAD itself stays source only.
//
// Usage: npm run git-release            (then: git push origin v<version> dist --force)
// Plain JavaScript, so it runs on any Node.js the repository is checked out with.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cwd = process.cwd();
const git = (args, env = {}) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, ...env } }).trim();

if (git(['status', '--porcelain', '--untracked-files=no']) !== '') {
  console.error('git-release: commit your changes first (the release is HEAD plus dist/)');
  process.exit(1);
}
execFileSync('npm', ['run', 'build'], { cwd, stdio: 'inherit' });

const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'));
// Without these, npm installs the git ref as it is: a prepare script would make it install every
// devDependency and build again (and npm 11 asks the installer to approve it).
for (const name of ['prepare', 'prebuild', 'build', 'prepack']) delete pkg.scripts?.[name];
const scratch = mkdtempSync(join(tmpdir(), 'sage-stream-release-'));
const env = { GIT_INDEX_FILE: join(scratch, 'index') };
try {
  git(['read-tree', 'HEAD'], env);
  git(['add', '--force', 'dist'], env);
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd, input: `${JSON.stringify(pkg, null, 2)}\n`, encoding: 'utf8' }).trim();
  git(['update-index', '--cacheinfo', `100644,${blob},package.json`], env);
  const tree = git(['write-tree'], env);
  const commit = git(['commit-tree', tree, '-p', 'HEAD', '-m', `v${pkg.version}: HEAD with dist/ built, installable from git`]);
  git(['tag', '--force', `v${pkg.version}`, commit]);
  git(['branch', '--force', 'dist', commit]);
  console.log(`git-release: v${pkg.version} and branch dist → ${commit}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

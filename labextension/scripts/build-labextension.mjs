// Build the prebuilt (federated) extension with @jupyterlab/builder, into package.json's
// jupyterlab.outputDir, and add install.json there (what `jupyter labextension list` shows as
// the Python package that installed it).
//
// The builder needs the JupyterLab core's package.json (which packages are shared singletons,
// at which versions) in a "core path" directory. `jupyter labextension build` would take it from
// a Python jupyterlab, and since JupyterLab 4.6 (jupyter_builder) it downloads it at build time
// unless @jupyterlab/core-meta is installed. We take it from @jupyterlab/core-meta, pinned by
// package-lock.json: the build needs node and npm only, and gives the same output everywhere.
//
//   node scripts/build-labextension.mjs [--development]

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(here, 'package.json'));
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

const corePath = mkdtempSync(join(tmpdir(), 'sshpty-core-meta-'));
let status = 1;
try {
  copyFileSync(
    require.resolve('@jupyterlab/core-meta/core.package.json'),
    join(corePath, 'package.json')
  );
  const builder =
    require.resolve('@jupyterlab/builder/lib/build-labextension.js');
  const args = [
    builder,
    '--core-path',
    corePath,
    ...process.argv.slice(2),
    here
  ];
  const run = spawnSync(process.execPath, args, {
    cwd: here,
    stdio: 'inherit'
  });
  status = run.status ?? 1;
  if (run.error) {
    console.error(`cannot run ${builder}: ${run.error.message}`);
  }
} finally {
  rmSync(corePath, { recursive: true, force: true });
}
if (status === 0) {
  copyFileSync(
    join(here, 'install.json'),
    join(here, pkg.jupyterlab.outputDir, 'install.json')
  );
}
process.exit(status);

// Applies patches/*.patch to node_modules (patch-package), before the build, on every `npm install` in this
// repo (npm's `prepare`), so `npm run dev`, the tests and the bundle all run the same patched code. A patch
// that does not apply, or is for another version than the one installed, fails the install: an upgrade
// cannot drop one silently. docs/patches.md says what each one fixes, as a report for upstream.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const bin = new URL('../node_modules/patch-package/index.js', import.meta.url)
if (!existsSync(bin)) {
  // A production install without devDependencies: nothing is built from node_modules there (dist/ is).
  console.log('apply-patches: patch-package is not installed (production install?); skipping')
  process.exit(0)
}
const run = spawnSync(process.execPath, [bin.pathname, '--error-on-fail', '--error-on-warn'], { stdio: 'inherit' })
process.exit(run.status ?? 1)

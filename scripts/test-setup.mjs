// Makes sure the system programs the tests drive for real are here: curl,
// redis-server, Debian's chromium, and ip (iproute2) for a test host in a network namespace. Missing ones are installed with apt-get
// when running as root on Debian; otherwise this stops with the exact command. First, the Deno binary: the
// `deno` package's install script puts it in place, and an install that skipped it (`--ignore-scripts`, or an
// npm that blocks scripts allowScripts does not list) leaves `deno check` and the Deno suites nothing to run.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

if (!existsSync(new URL('../node_modules/deno/deno', import.meta.url))) {
  console.error(
    '\nThe tests run Deno from node_modules/deno/deno, which is missing: its install script did not run. Run it, then the tests again:\n\n  npm rebuild deno\n',
  )
  process.exit(1)
}

const needs = [
  { bin: 'curl', pkg: 'curl' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'ip', pkg: 'iproute2' },
]
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0
const missing = needs.filter((n) => !has(n.bin))
if (missing.length === 0) process.exit(0)

const pkgs = missing.map((n) => n.pkg)
const command = `apt-get update && apt-get install -y ${pkgs.join(' ')}`
const root = process.getuid?.() === 0
const debian = existsSync('/etc/debian_version')
if (!root || !debian) {
  console.error(`\nThe tests need ${pkgs.join(', ')} (Debian packages). Install them, then run the tests again:\n\n  sudo ${command}\n`)
  process.exit(1)
}
console.log(`test-setup: installing ${pkgs.join(', ')} with apt-get`)
execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs.join(' ')}`], { stdio: 'inherit' })
for (const n of missing) if (!has(n.bin)) throw new Error(`test-setup: ${n.bin} is still missing after installing ${n.pkg}`)

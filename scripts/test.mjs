// Runs the uvu suites as `uvu <dir> <pattern>` does, then makes sure the run ends. uvu leaves the process to
// exit when its event loop is empty, so one handle a failed test left open (a socket, a timer, a child) kept a
// CI run alive until its time limit. Here a run that is still alive a few seconds after the last suite names
// what holds it and exits non-zero: a leak is a test bug, and it is reported, never waited on.
import { parse } from 'uvu/parse'
import { run } from 'uvu/run'

const [dir = 'tests', pattern = '\\.test\\.ts$'] = process.argv.slice(2)
const GRACE_MS = 10_000

process.env.FORCE_COLOR ??= '1'
const ctx = await parse(dir, pattern, {})
await run(ctx.suites, {})

setTimeout(() => {
  const held = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap')
  console.error(`\ntests: the run did not end ${GRACE_MS / 1000} s after its last suite; still open: ${held.join(', ') || '(nothing named)'}`)
  process.exit(process.exitCode || 1)
}, GRACE_MS).unref()

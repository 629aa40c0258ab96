import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DENO_RUN, ROOT, startServer } from '../harness/server.ts'

/**
 * The SDK as a user gets it: this repository packed (`npm pack`, as a registry would hold it), installed
 * into a new project, imported as `livefeed/client` under Node and Deno, type-checked by `tsc` in a strict
 * user project, and receiving a live event from a running server.
 */
const run = promisify(execFile)

// A user's program: subscribe from the installed package, publish once the snapshot came, print the event.
const LIVE = `import { connect } from 'livefeed/client'
const [url, topic] = globalThis.Deno ? Deno.args : process.argv.slice(2)
const feed = connect(url, { topics: [topic + '/**'], transports: ['websocket'] })
feed.on('event', (e) => {
  console.log(JSON.stringify({ topic: e.topic, data: e.data }))
  feed.close()
})
feed.on('snapshot', () => {
  fetch(url + '/api/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: topic + '/x', data: 'live' }) })
})
`
// Typed use of the public API; a wrong type here would fail tsc.
const TYPED = `import { connect, type FeedEvent, type FeedState } from 'livefeed/client'
const feed = connect('http://localhost:8080', { topics: ['scores/**'], since: undefined })
feed.on('event', (e: FeedEvent) => console.log(e.topic, e.id))
feed.on('status', (s: { state: FeedState }) => console.log(s.state))
feed.close()
`
const TSCONFIG = {
  compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023', 'DOM'], noEmit: true, types: [] },
  include: ['user.ts'],
}

test('npm pack, install into a new project, import livefeed/client on Node and Deno, tsc, a live event', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'livefeed-pack-'))
  const s = await startServer('node')
  try {
    // The build ran before the suites (npm test): pack what it made, as `npm publish` would.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT })
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    assert.ok(tarball, 'npm pack made a tarball')
    const project = join(dir, 'project')
    await run('mkdir', [project])
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }))
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(dir, tarball)], { cwd: project })
    writeFileSync(join(project, 'live.mjs'), LIVE)
    writeFileSync(join(project, 'user.ts'), TYPED)
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG))

    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: project }).catch((e: { stdout: string }) => e)
    assert.is(tsc.stdout, '', `tsc on the user's file:\n${tsc.stdout}`)

    const node = await run(process.execPath, ['live.mjs', s.url, 'pack-node'], { cwd: project, timeout: 15_000 })
    assert.equal(JSON.parse(node.stdout), { topic: 'pack-node/x', data: 'live' })
    const [deno, ...args] = DENO_RUN
    const onDeno = await run(deno!, [...args, 'live.mjs', s.url, 'pack-deno'], { cwd: project, timeout: 30_000 })
    assert.equal(JSON.parse(onDeno.stdout), { topic: 'pack-deno/x', data: 'live' })
  } finally {
    await s.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the same module is ready for JSR: deno publish --dry-run', async () => {
  const [deno] = DENO_RUN
  // No --allow-slow-types: every type the SDK exports is written out (src/protocol/events.ts).
  const { stderr } = await run(deno!, ['publish', '--dry-run', '--allow-dirty'], { cwd: ROOT, timeout: 120_000 })
  assert.match(stderr, /Dry run complete/)
})

test.run()

import { readFileSync } from 'node:fs'
import { Validator } from '@seriousme/openapi-schema-validator'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { allowed, ConfigError, DEFAULT_LIMITS, LIMITS, loadConfig } from '../../src/config.ts'
import { ERROR_STATUS } from '../../src/protocol/errors.ts'
import { CLIENT_FRAME_TYPES, serverFrame } from '../../src/protocol/ws.ts'
import { type InProcess, inProcess } from '../helpers/inprocess.ts'

/** A page of the docs: the tables below are held to the code where they live. */
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8')

const openapi = suite<{ p: InProcess; doc: { paths: Record<string, Record<string, unknown>> } }>('fast: GET /openapi.json')
openapi.before(async (ctx) => {
  ctx.p = await inProcess()
  const res = await ctx.p.app.request('http://localhost/openapi.json')
  assert.is(res.status, 200)
  ctx.doc = await res.json()
})
openapi.after(async ({ p }) => p.close())

openapi('is a valid OpenAPI 3.1 document', async ({ doc }) => {
  const validator = new Validator()
  const result = await validator.validate(doc)
  assert.is(validator.version, '3.1')
  assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 3000))
})

openapi('describes exactly the routes the app serves, and the frames of /ws', ({ p, doc }) => {
  // Every route handler Hono holds (middleware is registered as ALL, the static pages as /*).
  const served = new Set(p.app.routes.filter((r) => r.method !== 'ALL' && r.path !== '/*').map((r) => `${r.method} ${r.path}`))
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)))
  assert.equal([...documented].sort(), [...served].sort())
  for (const route of [
    'POST /api/events',
    'GET /api/events',
    'GET /api/snapshot',
    'GET /api/topics',
    'GET /healthz',
    'GET /sse',
    'GET /poll',
    'GET /ws',
    'POST /api/scores',
    'POST /api/quotes',
  ]) {
    assert.ok(documented.has(route), route)
  }
  const schemas = (doc as unknown as { components: { schemas: Record<string, { oneOf?: { properties: { type: { const: string } } }[] }> } }).components.schemas
  assert.equal(
    schemas.ServerFrame?.oneOf?.map((f) => f.properties.type.const),
    serverFrame.options.map((o) => o.entries.type.literal),
  )
  assert.equal(
    schemas.ClientFrame?.oneOf?.map((f) => f.properties.type.const),
    [...CLIENT_FRAME_TYPES],
  )
})
openapi.run()

const config = suite('fast: configuration is checked at start')
config('defaults, units and good values', () => {
  const c = loadConfig({})
  assert.equal(c.limits, DEFAULT_LIMITS)
  assert.is(c.limits.heartbeatMs, 25_000)
  assert.is(c.limits.pollWaitMaxS, 55)
  const set = loadConfig({ HISTORY_SIZE: '500', HEARTBEAT: '0.3', WEBSOCKET: 'off', PORT: '0', LOG_LEVEL: 'debug' })
  assert.is(set.limits.historySize, 500)
  assert.is(set.limits.heartbeatMs, 300)
  assert.is(set.websocket, false)
  // A default gives way to the setting it depends on.
  assert.is(loadConfig({ POLL_WAIT_MAX: '5' }).limits.pollWaitDefaultS, 5)
  // Cloud Logging's format where App Engine runs it, unless set.
  assert.is(c.logFormat, 'json')
  assert.is(loadConfig({ GAE_SERVICE: 'default' }).logFormat, 'gcp')
  assert.is(loadConfig({ GAE_SERVICE: 'default', LOG_FORMAT: 'json' }).logFormat, 'json')
})
config('WORKERS: auto or 1-256, and more than one only with REDIS_URL', () => {
  assert.is(loadConfig({}).workers, 1)
  assert.is(loadConfig({ WORKERS: 'auto', REDIS_URL: 'redis://127.0.0.1:6379' }).workers, 'auto')
  assert.is(loadConfig({ WORKERS: '4', REDIS_URL: 'redis://127.0.0.1:6379' }).workers, 4)
  assert.is(loadConfig({ WORKERS: '1' }).workers, 1)
  for (const bad of ['0', '257', 'two', '1.5']) {
    assert.throws(
      () => loadConfig({ WORKERS: bad, REDIS_URL: 'redis://127.0.0.1:6379' }),
      (e: Error) => e instanceof ConfigError && e.message === `WORKERS="${bad}" is not allowed: it must be auto, or a whole number from 1 to 256`,
    )
  }
  assert.throws(
    () => loadConfig({ WORKERS: 'auto' }),
    (e: Error) => e instanceof ConfigError && /^WORKERS="auto" is not allowed without REDIS_URL/.test(e.message),
  )
})
config('TOKEN_SECRET: each secret at least 32 bytes; the error line never shows a secret', () => {
  assert.equal(loadConfig({ TOKEN_SECRET: `${'a'.repeat(32)},${'b'.repeat(40)}` }).tokenSecrets, ['a'.repeat(32), 'b'.repeat(40)])
  try {
    loadConfig({ TOKEN_SECRET: `${'a'.repeat(32)},short-secret-value` })
    assert.unreachable()
  } catch (err) {
    assert.instance(err, ConfigError)
    if (err instanceof ConfigError) {
      assert.match(err.message, /^TOKEN_SECRET is not allowed: secret 2 of 2 has 18 bytes; each must have at least 32/)
      assert.not.match(err.message, /short-secret-value|aaaa/)
    }
  }
})
config('a bad value is one line naming the variable, the value and what is allowed', () => {
  const cases: [Record<string, string>, string][] = [
    [{ HISTORY_SIZE: '1.5' }, 'HISTORY_SIZE="1.5" is not allowed: it must be a whole number from 1 to 10000000'],
    [{ READ_LIMIT: '0' }, 'READ_LIMIT="0" is not allowed: it must be a whole number from 1 to 100000'],
    [{ MAX_BATCH: '-3' }, 'MAX_BATCH="-3" is not allowed: it must be a whole number from 1 to 100000'],
    [{ HEARTBEAT: 'soon' }, 'HEARTBEAT="soon" is not allowed: it must be a number from 0.05 to 3600 seconds'],
    [{ PORT: '70000' }, 'PORT="70000" is not allowed: it must be a port from 0 to 65535'],
    [{ WEBSOCKET: 'maybe' }, 'WEBSOCKET="maybe" is not allowed: it must be one of 1, 0, true, false, yes, no, on, off'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud" is not allowed: it must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT="xml" is not allowed: it must be one of json, gcp'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL="localhost:6379" is not allowed: it must be a redis:// or rediss:// URL'],
    [{ POLL_WAIT_DEFAULT: '30', POLL_WAIT_MAX: '20' }, 'POLL_WAIT_DEFAULT="30" is not allowed: it must be at most POLL_WAIT_MAX (20)'],
    [{ POLL_WAIT_DEFAULT: '60' }, 'POLL_WAIT_DEFAULT="60" is not allowed: it must be at most POLL_WAIT_MAX (55)'],
  ]
  for (const [env, message] of cases) {
    try {
      loadConfig(env)
      assert.unreachable(JSON.stringify(env))
    } catch (err) {
      assert.instance(err, ConfigError)
      if (err instanceof ConfigError) assert.is(err.message, message)
    }
  }
})
config.run()

const readme = suite('fast: the docs say what the code does')
/** The rows of the table in docs/<page> that follows a heading line, as arrays of cells. */
function table(page: string, after: string): string[][] {
  const text = doc(page)
  const start = text.indexOf(after)
  assert.ok(start >= 0, `docs/${page} has "${after}"`)
  const lines = text.slice(start).split('\n')
  const first = lines.findIndex((l) => l.startsWith('|'))
  const rows: string[][] = []
  for (const l of lines.slice(first + 2)) {
    if (!l.startsWith('|')) break
    rows.push(
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
  }
  return rows
}
const codes = (cell: string) => [...cell.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)

readme('the errors table lists every code with its status, and no other', () => {
  const listed = new Map<string, number>()
  for (const [codeCell, statusCell] of table('protocol.md', '## Errors')) {
    const names = codes(codeCell!)
    const statuses = statusCell!.split('/').map((s) => Number(s.trim()))
    names.forEach((n, i) => listed.set(n, statuses[Math.min(i, statuses.length - 1)]!))
  }
  assert.equal(Object.fromEntries([...listed].sort()), Object.fromEntries(Object.entries(ERROR_STATUS).sort()))
})
readme('the WebSocket tables list every frame type of the protocol', () => {
  const server = table('protocol.md', '| server → client |').map((r) => /"type":"([a-z]+)"/.exec(r[0]!)?.[1])
  const client = table('protocol.md', '| client → server |').map((r) => /"type":"([a-z]+)"/.exec(r[0]!)?.[1])
  assert.equal(server.sort(), serverFrame.options.map((o) => o.entries.type.literal).sort())
  assert.equal(client.sort(), [...CLIENT_FRAME_TYPES].sort())
})
readme('the configuration table gives each limit with its default and allowed range', () => {
  const rows = table('configuration.md', '| variable | default | allowed |')
  for (const s of Object.values(LIMITS)) {
    const row = rows.find((r) => r[0] === `\`${s.env}\``)
    assert.ok(row, `docs/configuration.md lists ${s.env}`)
    assert.is(row![1], `\`${s.default}\``, `${s.env} default`)
    assert.is(row![2], allowed(s), `${s.env} range`)
  }
})
readme.run()

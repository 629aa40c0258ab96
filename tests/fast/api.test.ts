import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import type { PreparedEvent } from '../../src/core/prepared.ts'
import { ERROR_STATUS, type ErrorCode, errorBody } from '../../src/protocol/errors.ts'
import { feedEvent, readAnswer, snapshotSchema } from '../../src/protocol/index.ts'
import { type InProcess, inProcess } from '../helpers/inprocess.ts'

/** Every route's refusals, in process (no sockets): each answer is the protocol's error body with the documented status. */
const test = suite<{ p: InProcess }>('fast: request validation on every route')
test.before(async (ctx) => {
  ctx.p = await inProcess({ MAX_BATCH: '50', MAX_EVENT_BYTES: '1024', MAX_BODY_BYTES: '65536', MAX_PATTERNS: '10' })
})
test.after(async ({ p }) => p.close())

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
})

async function call(p: InProcess, path: string, init?: RequestInit) {
  const res = await p.app.request(`http://localhost${path}`, init)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body }
}

/** [what, path, init, code] — the status comes from the protocol's one table. */
const CASES: [string, string, RequestInit | undefined, ErrorCode][] = [
  // publish: media type, JSON, schema, topic grammar, sizes, idempotency
  ['text/plain body', '/api/events', { method: 'POST', body: '{"topic":"a","data":1}', headers: { 'content-type': 'text/plain' } }, 'unsupported_media_type'],
  ['no content type', '/api/events', { method: 'POST', body: '{"topic":"a","data":1}' }, 'unsupported_media_type'],
  ['broken JSON', '/api/events', json('{"topic":'), 'invalid_json'],
  ['no data', '/api/events', json({ topic: 'a' }), 'validation_failed'],
  ['empty batch', '/api/events', json([]), 'validation_failed'],
  ['batch over MAX_BATCH', '/api/events', json(Array.from({ length: 51 }, () => ({ topic: 'a', data: 1 }))), 'validation_failed'],
  ['topic with a space', '/api/events', json({ topic: 'a b', data: 1 }), 'invalid_topic'],
  ['wildcard topic', '/api/events', json({ topic: 'a/**', data: 1 }), 'invalid_topic'],
  ['nine segments', '/api/events', json({ topic: 'a/b/c/d/e/f/g/h/i', data: 1 }), 'invalid_topic'],
  ['257 characters', '/api/events', json({ topic: 'x'.repeat(257), data: 1 }), 'invalid_topic'],
  ['data over MAX_EVENT_BYTES', '/api/events', json({ topic: 'big/one', data: 'x'.repeat(2000) }), 'payload_too_large'],
  ['body over MAX_BODY_BYTES', '/api/events', json({ topic: 'huge/body', data: 'x'.repeat(70_000) }), 'payload_too_large'],
  ['bad Idempotency-Key', '/api/events', json({ topic: 'a', data: 1 }, { 'idempotency-key': 'has space' }), 'bad_request'],
  ['negative score', '/api/scores', json({ league: 'nba', game: 'g', home: { team: 'A', score: -1 }, away: { team: 'B', score: 0 } }), 'validation_failed'],
  [
    'league not a segment',
    '/api/scores',
    json({ league: 'n/a', game: 'g', home: { team: 'A', score: 1 }, away: { team: 'B', score: 0 } }),
    'validation_failed',
  ],
  ['scores as text', '/api/scores', { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } }, 'unsupported_media_type'],
  ['zero price', '/api/quotes', json({ symbol: 'AAPL', price: 0 }), 'validation_failed'],
  [
    'bad currency in a batch',
    '/api/quotes',
    json([
      { symbol: 'AAPL', price: 1 },
      { symbol: 'MSFT', price: 2, currency: 'usd' },
    ]),
    'validation_failed',
  ],
  // reads
  ['unparsable since', '/api/events?topics=a&since=nope', undefined, 'invalid_cursor'],
  ['** not last', '/api/events?topics=a/**/b', undefined, 'invalid_pattern'],
  ['no topics', '/api/events?topics=', undefined, 'invalid_pattern'],
  ['too many patterns', `/api/events?topics=${Array.from({ length: 11 }, (_, i) => `t${i}`).join(',')}`, undefined, 'too_many_patterns'],
  ['limit 0', '/api/events?topics=a&limit=0', undefined, 'bad_request'],
  ['limit not a number', '/api/events?topics=a&limit=ten', undefined, 'bad_request'],
  ['snapshot bad pattern', '/api/snapshot?topics=a%20b', undefined, 'invalid_pattern'],
  ['snapshot no topics', '/api/snapshot', undefined, 'invalid_pattern'],
  // SSE and polling
  ['SSE no topics', '/sse', undefined, 'invalid_pattern'],
  ['SSE bad since', '/sse?topics=a&since=nope', undefined, 'invalid_cursor'],
  ['SSE bad Last-Event-ID', '/sse?topics=a', { headers: { 'last-event-id': '???' } }, 'invalid_cursor'],
  ['poll bad cursor', '/poll?topics=a&cursor=nope', undefined, 'invalid_cursor'],
  ['poll wait over max', '/poll?topics=a&wait=56', undefined, 'invalid_wait'],
  ['poll negative wait', '/poll?topics=a&wait=-1', undefined, 'invalid_wait'],
  ['poll bad pattern', '/poll?topics=a//b', undefined, 'invalid_pattern'],
  // the WebSocket endpoint without an upgrade, unknown paths, wrong methods
  ['GET /ws without upgrade', '/ws', undefined, 'upgrade_required'],
  ['unknown path', '/api/nothing', undefined, 'not_found'],
  ['PUT on /api/events', '/api/events', { method: 'PUT' }, 'method_not_allowed'],
  ['DELETE on /api/snapshot', '/api/snapshot', { method: 'DELETE' }, 'method_not_allowed'],
  ['POST on /sse', '/sse', { method: 'POST' }, 'method_not_allowed'],
  ['POST on /healthz', '/healthz', { method: 'POST' }, 'method_not_allowed'],
  ['GET on /api/scores', '/api/scores', undefined, 'method_not_allowed'],
]

test('every refusal is the protocol error body with its documented status, and stores nothing', async ({ p }) => {
  const kept = await call(p, '/api/events', json({ topic: 'keep/me', data: 'safe' }))
  assert.is(kept.status, 201)
  for (const [what, path, init, code] of CASES) {
    const r = await call(p, path, init)
    assert.is(r.status, ERROR_STATUS[code], `${what}: ${JSON.stringify(r.body)}`)
    assert.ok(v.is(errorBody, r.body), `${what}: not an error body: ${JSON.stringify(r.body)}`)
    if (v.is(errorBody, r.body)) {
      assert.is(r.body.error.code, code, what)
      assert.ok(r.body.error.message.length > 0, what)
    }
  }
  // Nothing of the refused requests was stored, and what was stored before is intact.
  const since = v.parse(feedEvent, kept.body).id
  const after = v.parse(readAnswer, (await call(p, `/api/events?topics=**&since=${since}`)).body)
  assert.equal('events' in after && after.events, [])
  const snap = v.parse(snapshotSchema, (await call(p, '/api/snapshot?topics=**')).body)
  assert.equal(snap.events, [kept.body])
})

test('405 says which methods the path answers; 426 says to upgrade', async ({ p }) => {
  assert.is((await call(p, '/api/events', { method: 'PUT' })).headers.get('allow'), 'POST, GET')
  assert.is((await call(p, '/sse', { method: 'POST' })).headers.get('allow'), 'GET')
  assert.is((await call(p, '/ws')).headers.get('upgrade'), 'websocket')
})

test('a validation error names the field and what is wrong', async ({ p }) => {
  const r = await call(p, '/api/scores', json({ league: 'nba', game: 'g', home: { team: 'A', score: 1.5 }, away: { team: 'B', score: 0 } }))
  assert.ok(v.is(errorBody, r.body))
  if (v.is(errorBody, r.body)) assert.match(r.body.error.message, /^home\.score: /)
})

test('Idempotency-Key: the same body answers the first result; another body is 422', async ({ p }) => {
  const first = await call(p, '/api/events', json({ topic: 'idem/a', data: 1 }, { 'idempotency-key': 'k1' }))
  const again = await call(p, '/api/events', json({ topic: 'idem/a', data: 1 }, { 'idempotency-key': 'k1' }))
  assert.is(first.status, 201)
  assert.is(again.status, 201)
  assert.equal(again.body, first.body)
  assert.is(again.headers.get('idempotent-replayed'), 'true')
  const other = await call(p, '/api/events', json({ topic: 'idem/a', data: 2 }, { 'idempotency-key': 'k1' }))
  assert.is(other.status, 422)
  assert.ok(v.is(errorBody, other.body) && other.body.error.code === 'idempotency_conflict')
})

test.run()

const remote = suite<{ p: InProcess }>('fast: publishing from a non-loopback client without PUBLISH_TOKEN')
remote.before(async (ctx) => {
  ctx.p = await inProcess({}, '203.0.113.7')
})
remote.after(async ({ p }) => p.close())
remote('is refused with 403 forbidden on every publish route; reading stays open', async ({ p }) => {
  for (const path of ['/api/events', '/api/scores', '/api/quotes']) {
    const r = await call(p, path, json({ topic: 'a', data: 1 }))
    assert.is(r.status, 403, path)
    assert.ok(v.is(errorBody, r.body) && r.body.error.code === 'forbidden', path)
  }
  assert.is((await call(p, '/api/snapshot?topics=**')).status, 200)
})
remote('without TOKEN_SECRET a token is refused (401 invalid_token) and private topics cannot be read', async ({ p }) => {
  const r = await call(p, '/api/snapshot?topics=open/**&token=eyJhbGciOiJIUzI1NiJ9.e30.x')
  assert.is(r.status, 401)
  assert.ok(v.is(errorBody, r.body) && r.body.error.code === 'invalid_token')
  const priv = await call(p, '/api/snapshot?topics=private/**')
  assert.is(priv.status, 403)
  assert.ok(v.is(errorBody, priv.body) && priv.body.error.code === 'forbidden')
})
remote('GET /metrics from elsewhere: 403 while no METRICS_TOKEN is set', async ({ p }) => {
  const r = await call(p, '/metrics')
  assert.is(r.status, 403)
  assert.ok(v.is(errorBody, r.body) && r.body.error.code === 'forbidden')
})
remote.run()

const metrics = suite<{ p: InProcess }>('fast: GET /metrics from elsewhere with METRICS_TOKEN')
metrics.before(async (ctx) => {
  ctx.p = await inProcess({ METRICS_TOKEN: 'metrics-secret' }, '203.0.113.7')
})
metrics.after(async ({ p }) => p.close())
metrics('needs the bearer token: 401 without it or with another, 200 with it', async ({ p }) => {
  // A prefix, an extension and the secret twice over: the comparison cycles the secret, so length must count.
  const wrong = ['wrong', 'metrics-secre', 'metrics-secretX', 'metrics-secretmetrics-secret', 'Metrics-secret']
  for (const headers of [{}, ...wrong.map((t) => ({ authorization: `Bearer ${t}` }))] as Record<string, string>[]) {
    const r = await call(p, '/metrics', { headers })
    assert.is(r.status, 401)
    assert.ok(v.is(errorBody, r.body) && r.body.error.code === 'unauthorized')
  }
  const ok = await call(p, '/metrics', { headers: { authorization: 'Bearer metrics-secret' } })
  assert.is(ok.status, 200)
  assert.match(String(ok.body), /^# TYPE livefeed_connections gauge$/m)
})
metrics.run()

const isolation = suite<{ p: InProcess }>('fast: fault isolation')
isolation.before(async (ctx) => {
  ctx.p = await inProcess()
})
isolation.after(async ({ p }) => p.close())
isolation('a consumer whose write throws never stops delivery to the others, nor turns a stored publish into an error', async ({ p }) => {
  const got: string[] = []
  const crashed: unknown[] = []
  const sink = (write: (id: string) => void) => ({
    event: (e: PreparedEvent) => write(e.id ?? ''),
    snapshot() {},
    reset() {},
    crashed: (err: unknown) => crashed.push(err),
    pageBytes: 1 << 20,
    room: async () => {},
    overrun() {},
  })
  const broken = p.feed.hub.subscribe(
    sink(() => {
      throw new Error('socket exploded')
    }),
  )
  const healthy = p.feed.hub.subscribe(sink((id) => got.push(id)))
  await broken.add(['iso/**'])
  await healthy.add(['iso/**'])
  const r = await call(
    p,
    '/api/events',
    json([
      { topic: 'iso/a', data: 1 },
      { topic: 'iso/b', data: 2 },
    ]),
  )
  assert.is(r.status, 201, 'stored, so answered 201')
  const ids = (r.body as { events: { id: string }[] }).events.map((e) => e.id)
  assert.equal(got, ids, 'the healthy consumer got both')
  assert.is(crashed.length, 2, 'each failed write reported to its consumer')
})
isolation.run()

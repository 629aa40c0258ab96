import type { IncomingMessage } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { curl, type FeedEvent, publish, request } from './helpers/http.ts'

for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server }>(`HTTP API [${runtime}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(runtime, { MAX_EVENT_BYTES: '1024', MAX_BODY_BYTES: '65536', MAX_BATCH: '50' })
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('curl publishes one event; it is stored with a cursor and server time', async ({ s }) => {
    const before = Date.now()
    const r = await curl([
      '-X',
      'POST',
      `${s.url}/api/events`,
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"topic":"scores/nba/lal-bos","data":{"home":101,"away":99}}',
    ])
    assert.is(r.status, 201)
    assert.is(r.body.topic, 'scores/nba/lal-bos')
    assert.equal(r.body.data, { home: 101, away: 99 })
    assert.type(r.body.id, 'string')
    assert.ok(r.body.ts >= before - 1000 && r.body.ts <= Date.now() + 1000)
  })

  test('a batch is stored in order with increasing cursors', async ({ s }) => {
    const r = await publish(
      s.url,
      [1, 2, 3].map((n) => ({ topic: 'batch/t', data: n })),
    )
    assert.is(r.status, 201)
    const ids = r.body.events.map((e: { id: string }) => e.id)
    assert.equal(
      r.body.events.map((e: { data: number }) => e.data),
      [1, 2, 3],
    )
    assert.equal([...ids].sort(), ids)
    assert.is(new Set(ids).size, 3)
    const read = await request(`${s.url}/api/events?topics=batch/t&since=${encodeURIComponent(ids[0])}`)
    assert.equal(
      read.body.events.map((e: { data: number }) => e.data),
      [2, 3],
    )
    assert.is(read.body.cursor, ids[2])
  })

  test('GET /api/events pages with limit and continues from the cursor', async ({ s }) => {
    const first = await publish(s.url, { topic: 'page/a', data: 0 })
    await publish(
      s.url,
      [1, 2, 3, 4].map((n) => ({ topic: n % 2 ? 'page/a' : 'other/b', data: n })),
    )
    const p1 = await request(`${s.url}/api/events?topics=page/*&since=${first.body.id}&limit=1`)
    assert.equal(
      p1.body.events.map((e: { data: number }) => e.data),
      [1],
    )
    const p2 = await request(`${s.url}/api/events?topics=page/*&since=${p1.body.cursor}`)
    assert.equal(
      p2.body.events.map((e: { data: number }) => e.data),
      [3],
    )
    const p3 = await request(`${s.url}/api/events?topics=page/*&since=${p2.body.cursor}`)
    assert.equal(p3.body.events, [])
    assert.is(p3.body.cursor, p2.body.cursor)
  })

  test('patterns: * is one segment, ** one or more', async ({ s }) => {
    const head = (await request(`${s.url}/api/snapshot?topics=x`)).body.cursor
    await publish(
      s.url,
      ['pat/a', 'pat/a/b', 'pat/a/b/c', 'pat', 'pat/z/b'].map((topic) => ({ topic, data: topic })),
    )
    const read = async (p: string) => (await request(`${s.url}/api/events?topics=${p}&since=${head}`)).body.events.map((e: { topic: string }) => e.topic)
    assert.equal(await read('pat/*'), ['pat/a'])
    assert.equal(await read('pat/**'), ['pat/a', 'pat/a/b', 'pat/a/b/c', 'pat/z/b'])
    assert.equal(await read('pat/*/b'), ['pat/a/b', 'pat/z/b'])
    assert.equal(await read('pat/a/b,pat'), ['pat/a/b', 'pat'])
  })

  test('snapshot holds the latest event of each matching topic; topics lists them', async ({ s }) => {
    await publish(s.url, [
      { topic: 'snap/a', data: 1 },
      { topic: 'snap/b', data: 1 },
      { topic: 'snap/a', data: 2 },
    ])
    const snap = await request(`${s.url}/api/snapshot?topics=snap/*`)
    assert.equal(
      snap.body.events.map((e: { topic: string; data: number }) => [e.topic, e.data]),
      [
        ['snap/b', 1],
        ['snap/a', 2],
      ],
    )
    const topics = await request(`${s.url}/api/topics`)
    const a = topics.body.topics.find((t: { topic: string }) => t.topic === 'snap/a')
    assert.is(a.lastId, snap.body.events[1].id)
    assert.is(a.subscribers, 0)
    assert.type(a.lastTs, 'number')
  })

  test('scores and quotes are validated and stored on their topics', async ({ s }) => {
    const score = await request(`${s.url}/api/scores`, {
      method: 'POST',
      json: {
        league: 'nba',
        game: 'lal-bos',
        home: { team: 'Lakers', score: 101 },
        away: { team: 'Celtics', score: 99 },
        period: 4,
        clock: '0:12',
        status: 'live',
      },
    })
    assert.is(score.status, 201)
    assert.is(score.body.topic, 'scores/nba/lal-bos')
    assert.is(score.body.data.home.score, 101)
    const quotes = await request(`${s.url}/api/quotes`, {
      method: 'POST',
      json: [
        { symbol: 'AAPL', price: 190.5, change: -1.2 },
        { symbol: 'MSFT', price: 410 },
      ],
    })
    assert.is(quotes.status, 201)
    assert.equal(
      quotes.body.events.map((e: { topic: string }) => e.topic),
      ['stocks/AAPL', 'stocks/MSFT'],
    )
    const bad = [
      [`/api/scores`, { league: 'nba', game: 'x', home: { team: 'A', score: -1 }, away: { team: 'B', score: 0 } }, 'home.score'],
      [`/api/scores`, { league: 'n ba', game: 'x', home: { team: 'A', score: 1 }, away: { team: 'B', score: 0 } }, 'league'],
      [`/api/scores`, { league: 'nba', game: 'x', home: { team: 'A', score: 1.5 }, away: { team: 'B', score: 0 } }, 'home.score'],
      [`/api/scores`, { league: 'nba', game: 'x', home: { team: 'A', score: 1 }, away: { team: 'B', score: 0 }, status: 'paused' }, 'status'],
      [`/api/quotes`, { symbol: 'AAPL', price: 0 }, 'price'],
      [`/api/quotes`, { symbol: 'AAPL', price: '12' }, 'price'],
      [
        `/api/quotes`,
        [
          { symbol: 'AAPL', price: 1 },
          { symbol: 'A/B', price: 1 },
        ],
        'symbol',
      ],
    ] as const
    for (const [path, json, field] of bad) {
      const r = await request(`${s.url}${path}`, { method: 'POST', json })
      assert.is(r.status, 400, JSON.stringify(json))
      assert.is(r.body.error.code, 'validation_failed')
      assert.ok(r.body.error.message.includes(field), `${r.body.error.message} should name ${field}`)
    }
  })

  test('bad input gets a clear error and loses nothing already stored', async ({ s }) => {
    const kept = await publish(s.url, { topic: 'keep/me', data: 'safe' })
    const cases: [RequestInit & { json?: unknown }, number, string][] = [
      [{ body: '{"topic":"a","data":1}', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
      [{ body: '{"topic":', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
      [{ json: { topic: 'a b', data: 1 } }, 400, 'invalid_topic'],
      [{ json: { topic: 'a/**', data: 1 } }, 400, 'invalid_topic'],
      [{ json: { topic: 'a/b/c/d/e/f/g/h/i', data: 1 } }, 400, 'invalid_topic'],
      [{ json: { topic: 'x'.repeat(257), data: 1 } }, 400, 'invalid_topic'],
      [{ json: { topic: 'a' } }, 400, 'validation_failed'],
      [{ json: [] }, 400, 'validation_failed'],
      [{ json: Array.from({ length: 51 }, () => ({ topic: 'a', data: 1 })) }, 400, 'validation_failed'],
      [{ json: { topic: 'big/one', data: 'x'.repeat(2000) } }, 413, 'payload_too_large'],
      [
        {
          json: [
            { topic: 'ok/first', data: 1 },
            { topic: 'big/one', data: 'x'.repeat(2000) },
          ],
        },
        413,
        'payload_too_large',
      ],
      [{ json: { topic: 'huge/body', data: 'x'.repeat(70_000) } }, 413, 'payload_too_large'],
    ]
    for (const [init, status, code] of cases) {
      const r = await request(`${s.url}/api/events`, { method: 'POST', ...init })
      assert.is(r.status, status, `${code}: ${JSON.stringify(r.body)}`)
      assert.is(r.body.error.code, code)
      assert.type(r.body.error.message, 'string')
    }
    // A rejected batch stores none of its events, and what was stored before is intact.
    const after = await request(`${s.url}/api/events?topics=**&since=${kept.body.id}`)
    assert.equal(after.body.events, [])
    const snap = await request(`${s.url}/api/snapshot?topics=keep/me`)
    assert.equal(snap.body.events, [kept.body])
  })

  test('bad reads: unparsable cursor, bad pattern, too many patterns, bad limit', async ({ s }) => {
    const cases: [string, string][] = [
      ['/api/events?topics=a&since=nope', 'invalid_cursor'],
      ['/api/events?topics=a/**/b', 'invalid_pattern'],
      ['/api/events?topics=', 'invalid_pattern'],
      [`/api/events?topics=${Array.from({ length: 101 }, (_, i) => `t${i}`).join(',')}`, 'too_many_patterns'],
      ['/api/events?topics=a&limit=0', 'bad_request'],
      ['/api/snapshot?topics=a%20b', 'invalid_pattern'],
    ]
    for (const [path, code] of cases) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 400, path)
      assert.is(r.body.error.code, code, path)
    }
  })

  test('a well-formed cursor from another epoch or ahead of the head resets to the snapshot', async ({ s }) => {
    await publish(s.url, { topic: 'reset/a', data: 1 })
    for (const since of ['zzzzzzzz-00000000001', `${(await request(`${s.url}/api/snapshot?topics=x`)).body.cursor.split('-')[0]}-zzzzzzzzzzz`]) {
      const r = await request(`${s.url}/api/events?topics=reset/*&since=${since}`)
      assert.is(r.status, 200)
      assert.is(r.body.reset, true)
      assert.equal(
        r.body.snapshot.map((e: { data: number }) => e.data),
        [1],
      )
      assert.type(r.body.cursor, 'string')
    }
  })

  test('Idempotency-Key: a retry answers with the first result and stores nothing new', async ({ s }) => {
    const key = `k-${process.pid}-${Date.now()}`
    const body = [
      { topic: 'idem/a', data: 1 },
      { topic: 'idem/a', data: 2 },
    ]
    const first = await publish(s.url, body, { 'Idempotency-Key': key })
    const again = await curl([
      '-X',
      'POST',
      `${s.url}/api/events`,
      '-H',
      'Content-Type: application/json',
      '-H',
      `Idempotency-Key: ${key}`,
      '-d',
      JSON.stringify(body),
    ])
    assert.is(first.status, 201)
    assert.is(again.status, 201)
    assert.equal(again.body, first.body)
    const stored = await request(`${s.url}/api/events?topics=idem/a&since=${first.body.events[0].id}`)
    assert.equal(
      stored.body.events.map((e: { data: number }) => e.data),
      [2],
      'nothing stored twice',
    )
    const conflict = await publish(s.url, { topic: 'idem/a', data: 3 }, { 'Idempotency-Key': key })
    assert.is(conflict.status, 422)
    assert.is(conflict.body.error.code, 'idempotency_conflict')
    const other = await publish(s.url, body, { 'Idempotency-Key': `${key}-2` })
    assert.is(other.status, 201)
    assert.is.not(other.body.events[0].id, first.body.events[0].id)
  })

  test('every answer carries X-Request-Id, and every API answer its CORS headers: a stored publish, a replay, an error, a read, a stream', async ({ s }) => {
    const origin = { origin: s.url }
    const key = { 'Idempotency-Key': 'headers-1' }
    const answers: [string, Headers][] = [
      ['publish', (await publish(s.url, { topic: 'hdr/a', data: 1 }, { ...origin, ...key })).headers],
      ['replay', (await publish(s.url, { topic: 'hdr/a', data: 1 }, { ...origin, ...key })).headers],
      ['refusal', (await publish(s.url, { topic: 'hdr/a' }, origin)).headers],
      ['read', (await request(`${s.url}/api/snapshot?topics=hdr/**`, { headers: origin })).headers],
    ]
    const first = await request(`${s.url}/poll?topics=hdr/**`, { headers: origin })
    answers.push(['poll', first.headers])
    const held = await request(`${s.url}/poll?topics=hdr/**&cursor=${first.body.cursor}&wait=0`, { headers: origin })
    assert.is(held.status, 200)
    answers.push(['poll from a cursor', held.headers])
    const sse = new AbortController()
    const stream = await fetch(`${s.url}/sse?topics=hdr/**`, { headers: origin, signal: sse.signal })
    answers.push(['stream', stream.headers])
    sse.abort()
    for (const [what, h] of answers) {
      assert.match(h.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `${what}: X-Request-Id`)
      assert.is(h.get('access-control-allow-origin'), '*', `${what}: CORS`)
      assert.is(h.get('access-control-expose-headers'), 'Idempotent-Replayed, Retry-After, X-Request-Id', `${what}: exposed`)
      assert.is(h.get('x-content-type-options'), 'nosniff', `${what}: nosniff`)
    }
    assert.is(answers[0]![1].get('content-type'), 'application/json')
    assert.is(answers[0]![1].get('idempotent-replayed'), null)
    assert.is(answers[1]![1].get('idempotent-replayed'), 'true', 'a replay says so')
    assert.is(first.headers.get('cache-control'), 'no-store')
    assert.is(held.headers.get('cache-control'), 'no-store')
    for (const path of ['/healthz', '/nope', '/']) {
      const res = await fetch(`${s.url}${path}`)
      await res.arrayBuffer()
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `${path}: X-Request-Id`)
    }
    // The 101 is the runtime's own (docs/operations.md): none of the answers' headers are added to it.
    const ws = new WebSocket(`${s.wsUrl}/ws?topics=hdr/a`)
    const upgraded = await new Promise<IncomingMessage>((resolve, reject) => {
      ws.once('upgrade', resolve)
      ws.once('error', reject)
    })
    ws.close()
    assert.is(upgraded.statusCode, 101)
    assert.is(upgraded.headers['x-request-id'], undefined, '101: no X-Request-Id')
    assert.is(upgraded.headers['access-control-allow-origin'], undefined, '101: no CORS')
  })

  test('CORS: any origin may read; without a token scheme no page elsewhere may publish, nor get its preflight approved', async ({ s }) => {
    const read = await request(`${s.url}/api/snapshot?topics=cors/**`, { headers: { origin: 'https://dash.example' } })
    assert.is(read.headers.get('access-control-allow-origin'), '*')
    assert.is(read.headers.get('x-content-type-options'), 'nosniff')
    const foreign = await publish(s.url, { topic: 'cors/a', data: 1 }, { origin: 'https://evil.example' })
    assert.is(foreign.status, 403, 'a page on another site cannot publish through a browser on loopback')
    assert.is(foreign.body.error.code, 'forbidden')
    const own = await publish(s.url, { topic: 'cors/a', data: 2 }, { origin: s.url })
    assert.is(own.status, 201, "the server's own pages may")
    const stored = await request(`${s.url}/api/snapshot?topics=cors/a`)
    assert.equal(
      stored.body.events.map((e: FeedEvent) => e.data),
      [2],
    )
    const pre = await fetch(`${s.url}/api/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
    assert.is(pre.status, 403)
    assert.is(pre.headers.get('access-control-allow-origin'), null)
    const readPre = await fetch(`${s.url}/api/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://dash.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    })
    assert.is(readPre.status, 204)
    const page = await fetch(`${s.url}/`)
    assert.is(page.headers.get('x-frame-options'), 'SAMEORIGIN', 'the dashboard gets browser security headers')
  })

  test('a chunked body (no Content-Length) over MAX_BODY_BYTES is refused with 413 as well', async ({ s }) => {
    const big = JSON.stringify({ topic: 'chunked/a', data: 'x'.repeat(70_000) })
    const chunked = (body: string) =>
      curl(['-X', 'POST', `${s.url}/api/events`, '-H', 'Content-Type: application/json', '-H', 'Transfer-Encoding: chunked', '--data-binary', body])
    const r = await chunked(big)
    assert.is(r.status, 413)
    assert.is(r.body.error.code, 'payload_too_large')
    const small = await chunked('{"topic":"chunked/a","data":1}')
    assert.is(small.status, 201)
  })

  test('health and App Engine checks answer', async ({ s }) => {
    for (const path of ['/healthz', '/liveness_check', '/readiness_check']) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 200, path)
    }
    const missing = await request(`${s.url}/api/nothing`)
    assert.is(missing.status, 404)
    assert.is(missing.body.error.code, 'not_found')
    const plain = await request(`${s.url}/ws`)
    assert.is(plain.status, 426)
  })

  test.run()
}

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { RUNTIMES, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { type FrameOf, WsClient } from '../harness/ws.ts'
import { publish, request } from './helpers/http.ts'
import { expected, startPublishing } from './helpers/load.ts'

for (const runtime of RUNTIMES) {
  const test = suite(`lifecycle [${runtime}]`)

  test('MAX_CONNECTION_AGE closes with 4000; resuming from the cursor loses and repeats nothing', async () => {
    const s = await startServer(runtime, { MAX_CONNECTION_AGE: '0.5' })
    try {
      const start = (await request(`${s.url}/api/snapshot?topics=x`)).body.cursor as string
      const load = startPublishing(s.url, ['age/a', 'age/b'], { concurrency: 1 })
      const got: FrameOf<'event'>[] = []
      const codes: number[] = []
      let cursor = start
      const deadline = Date.now() + 2500
      while (Date.now() < deadline) {
        const c = new WsClient(`${s.wsUrl}/ws?topics=age/*&since=${cursor}`)
        codes.push(await c.closed)
        got.push(...c.events())
        cursor = got.at(-1)?.id ?? cursor
      }
      const all = await load.stop()
      const c = await WsClient.open(`${s.wsUrl}/ws?topics=age/*&since=${cursor}`)
      const want = expected(all, start, () => true)
      // The sentinel is the last event: once it is in, a late duplicate would be too.
      got.push(...(await c.waitId(want.at(-1)!.id)))
      c.close()
      assert.ok(codes.length >= 3, `reconnected ${codes.length} times`)
      assert.ok(
        codes.every((code) => code === 4000),
        `close codes ${codes}`,
      )
      assert.equal(
        got.map((e) => e.id),
        want.map((e) => e.id),
      )
    } finally {
      await s.stop()
    }
  })

  test('SIGTERM: readiness 503, new sockets refused, open ones closed with 1001, exit 0', async () => {
    const s = await startServer(runtime, { DRAIN_SPREAD: '1.5' })
    const clients = await Promise.all([1, 2, 3].map(() => WsClient.open(`${s.wsUrl}/ws?topics=t`)))
    await Promise.all(clients.map((c) => c.nth('snapshot')))
    s.proc.kill('SIGTERM')
    const ready = await until('readiness 503', async () => {
      const r = await request(`${s.url}/readiness_check`)
      return r.status === 503 ? r : undefined
    })
    assert.is(ready.body.draining, true)
    const late = await new WsClient(`${s.wsUrl}/ws`).opened.then(
      () => 'opened',
      (e: Error) => e.message,
    )
    assert.is(late, 'upgrade refused: 503')
    const codes = await Promise.all(clients.map((c) => c.waitClose(5000)))
    assert.equal(codes, [1001, 1001, 1001])
    assert.is(await s.exited, 0)
    // Both lines are written, in the order they were logged (the exit waits for the logger's writes).
    const msgs = s
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => String(JSON.parse(l).msg ?? JSON.parse(l).message))
    assert.ok(msgs.indexOf('draining') >= 0 && msgs.indexOf('draining') < msgs.indexOf('stopped'), msgs.join(', '))
    assert.is(msgs.at(-1), 'stopped')
  })

  test('a client that stops answering pings is dropped', async () => {
    const s = await startServer(runtime, { HEARTBEAT: '0.3' })
    try {
      const ws = new WebSocket(`${s.wsUrl}/ws`, { autoPong: false })
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
      await new Promise((resolve) => ws.on('open', resolve))
      const health = async () => (await request(`${s.url}/healthz`)).body.connections as number
      assert.is(await health(), 1)
      await until('the server to drop the silent client', async () => ((await health()) === 0 ? true : undefined), 5000)
      ws.terminate()
      await closed
    } finally {
      await s.stop()
    }
  })

  test('PUBLISH_TOKEN: publishing needs the bearer token; reading does not', async () => {
    const s = await startServer(runtime, { PUBLISH_TOKEN: 's3cret' })
    try {
      const none = await publish(s.url, { topic: 'auth/a', data: 1 })
      assert.is(none.status, 401)
      assert.is(none.body.error.code, 'unauthorized')
      const wrong = await publish(s.url, { topic: 'auth/a', data: 1 }, { authorization: 'Bearer s3cre' })
      assert.is(wrong.status, 401)
      const ok = await publish(s.url, { topic: 'auth/a', data: 1 }, { authorization: 'Bearer s3cret' })
      assert.is(ok.status, 201)
      const read = await request(`${s.url}/api/snapshot?topics=auth/a`)
      assert.is(read.body.events.length, 1)
    } finally {
      await s.stop()
    }
  })

  test('NODE_ENV=production without PUBLISH_TOKEN refuses to start', async () => {
    const err = await startServer(runtime, { NODE_ENV: 'production' }, 15_000).then(
      async (s) => (await s.stop(), undefined),
      (e: Error) => e,
    )
    assert.ok(err, 'the server started')
    assert.match(err!.message, /PUBLISH_TOKEN must be set/)
  })

  test('a bad setting stops the start with exit code 1 and one line naming it', async () => {
    for (const [env, line] of [
      [{ HISTORY_SIZE: '1.5' }, 'livefeed: HISTORY_SIZE="1.5" is not allowed: it must be a whole number from 1 to 10000000'],
      [{ POLL_WAIT_DEFAULT: '30', POLL_WAIT_MAX: '20' }, 'livefeed: POLL_WAIT_DEFAULT="30" is not allowed: it must be at most POLL_WAIT_MAX (20)'],
    ] as const) {
      const err = await startServer(runtime, env, 15_000).then(
        async (s) => (await s.stop(), undefined),
        (e: Error) => e,
      )
      assert.ok(err, `the server started with ${JSON.stringify(env)}`)
      const [head, ...output] = err!.message.split('\n')
      assert.match(head!, / exited with 1 before listening/)
      assert.equal(
        output.filter((l) => l.trim() !== ''),
        [line],
        'exactly one line, no stack',
      )
    }
  })

  test.run()
}

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import { startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { quoteSchema, scoreSchema } from '../src/dashboard/schemas.ts'
import { simulate } from '../src/demo/simulator.ts'
import { request } from './helpers/http.ts'

test('the simulator publishes scores and quotes over the public API with a token', async () => {
  const s = await startServer('node', { PUBLISH_TOKEN: 'sim-token' })
  const abort = new AbortController()
  const problems: string[] = []
  try {
    const ws = await WsClient.open(`${s.wsUrl}/ws?topics=scores/**,stocks/*`)
    const run = simulate({ url: s.url, token: 'sim-token', tickMs: 20, signal: abort.signal, log: (m) => problems.push(m) })
    await ws.waitEvents(30, 10_000)
    abort.abort()
    await run
    const topics = (await request(`${s.url}/api/topics`)).body.topics.map((t: { topic: string }) => t.topic)
    assert.ok(topics.includes('scores/nba/lal-bos'), topics.join(' '))
    assert.ok(topics.includes('stocks/AAPL'))
    // What the simulator publishes is what the dashboard's schemas accept.
    const quote = v.parse(quoteSchema, ws.events().find((e) => e.topic === 'stocks/AAPL')!.data)
    assert.ok(quote.price > 0 && quote.currency === 'USD')
    const score = v.parse(scoreSchema, ws.events().find((e) => e.topic.startsWith('scores/'))!.data)
    assert.ok(score.status !== undefined)
    assert.equal(problems, [])
    ws.close()
  } finally {
    abort.abort()
    await s.stop()
  }
})

test('without the token the simulator is refused and says so', async () => {
  const s = await startServer('node', { PUBLISH_TOKEN: 'sim-token' })
  const abort = new AbortController()
  const problems: string[] = []
  try {
    const run = simulate({ url: s.url, tickMs: 20, signal: abort.signal, log: (m) => problems.push(m) })
    await until('a refusal', () => (problems.length > 0 ? true : undefined))
    abort.abort()
    await run
    assert.match(problems[0]!, /401/)
  } finally {
    abort.abort()
    await s.stop()
  }
})

test.run()

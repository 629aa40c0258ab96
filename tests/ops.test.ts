import { mkdirSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type BrowserContext, launchChromium, watchCsp, withBrowser } from './helpers/browser.ts'
import { publish } from './helpers/http.ts'
import { startProxy } from './helpers/proxy.ts'

const tile = (page: Page, id: string) => page.locator(`#tile-${id}`).textContent()

for (const runtime of ['node', 'deno'] as const) {
  const test = suite<BrowserContext>(`operators' page in Chromium [${runtime}]`, {} as BrowserContext)
  withBrowser(test, runtime)

  test('charts and figures follow /metrics live: connections by transport, events and deliveries per second', async ({ s, browser }) => {
    const page = await browser.newPage()
    const violations = await watchCsp(page)
    const res = await page.goto(`${s.url}/ops.html`)
    assert.is(res!.status(), 200)
    assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/)
    await until('the page to read /metrics', async () => ((await page.locator('#status').getAttribute('data-state')) === 'open' ? true : undefined), 10_000)
    assert.is(await page.locator('.chart canvas').count(), 6, 'six charts drawn by the chart library')
    assert.not.ok(await page.locator('#token-form').isVisible(), 'no token asked for on loopback')
    await until('no connections shown', async () => ((await tile(page, 'connections')) === '0' ? true : undefined), 10_000)

    const clients = await Promise.all([1, 2, 3].map(() => WsClient.open(`${s.wsUrl}/ws?topics=ops/**`)))
    await Promise.all(clients.map((c) => c.nth('snapshot')))
    await until('three connections shown', async () => ((await tile(page, 'connections')) === '3' ? true : undefined), 10_000)
    // Events keep flowing until the page shows them as a rate: deliveries are three per event.
    let i = 0
    // The three come from one scrape: with events in it, p99 is a latency in ms, not the "–" of an idle interval.
    await until(
      'events, deliveries per second and their p99 latency shown',
      async () => {
        await publish(s.url, { topic: 'ops/a', data: i++ })
        const [events, deliveries, p99] = [Number(await tile(page, 'events')), Number(await tile(page, 'deliveries')), await tile(page, 'p99')]
        return events > 0 && deliveries > 0 && /^\d[\d.,]* ms$/.test(p99 ?? '') ? true : undefined
      },
      15_000,
    )
    assert.match((await tile(page, 'rss'))!, /^\d[\d,]* MiB$/)
    mkdirSync(`${ROOT}test-artifacts`, { recursive: true })
    await page.screenshot({ path: `${ROOT}test-artifacts/ops-${runtime}.png`, fullPage: true })
    clients.forEach((c) => c.close())
    await until('connections back to zero', async () => ((await tile(page, 'connections')) === '0' ? true : undefined), 10_000)
    assert.equal(await violations(), [], 'no CSP violation')
    await page.close()
  })

  test.run()
}

const token = suite("operators' page from outside loopback")
token('asks for METRICS_TOKEN, keeps it in the tab only, and reads the metrics with it', async () => {
  const s = await startServer('node', { METRICS_TOKEN: 'ops-secret-token', TRUST_PROXY: '1' })
  // A load balancer in front: the page's requests come from a public address.
  const proxy = await startProxy(() => [s.port], { addHeaders: { 'x-forwarded-for': '203.0.113.7' } })
  const browser = await launchChromium()
  try {
    const page = await browser.newPage()
    await page.goto(`${proxy.url}/ops.html`)
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 10_000 })
    assert.match((await page.locator('#status-text').textContent())!, /token/)
    await page.fill('#token', 'wrong')
    // The wrong one is refused (401): the form comes back.
    const refused = page.waitForResponse((r) => r.url().endsWith('/metrics') && r.request().headers().authorization === 'Bearer wrong', { timeout: 10_000 })
    await page.click('#token-form button')
    assert.is((await refused).status(), 401)
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 10_000 })
    await page.fill('#token', 'ops-secret-token')
    await page.click('#token-form button')
    await until(
      'the page to read /metrics with the token',
      async () => ((await page.locator('#status').getAttribute('data-state')) === 'open' ? true : undefined),
      10_000,
    )
    await until('figures shown', async () => ((await tile(page, 'connections')) !== '–' ? true : undefined), 10_000).catch(async (e) => {
      throw new Error(`${e.message} status: ${await page.locator('#status-text').textContent()}`)
    })
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    assert.not.match(stored, /ops-secret-token/, 'the token is not stored')
  } finally {
    await browser.close()
    await proxy.close()
    await s.stop()
  }
})
token.run()

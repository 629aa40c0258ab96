import { mkdirSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { type BrowserContext, launchChromium, watchCsp, withBrowser } from './helpers/browser.ts'
import { curl, publish } from './helpers/http.ts'

const score = (game: string, home: number, away: number, league = 'nba') => ({
  league,
  game,
  home: { team: `Home ${game}`, score: home },
  away: { team: `Away ${game}`, score: away },
  period: 2,
  clock: '5:00',
  status: 'live',
})
const postScore = (s: Server, body: object) => curl(['-X', 'POST', `${s.url}/api/scores`, '-H', 'Content-Type: application/json', '-d', JSON.stringify(body)])
const cardScore = (page: Page, game: string) => page.locator(`[data-game="${game}"] .score`).allTextContents()
/** WCAG 2 contrast of each text selector against the first opaque background behind it. */
const CONTRAST_SCRIPT = `(() => {
  const lum = (c) => {
    const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map((v) => {
      const x = Number(v) / 255
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4
    })
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor
      if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg
    }
    return 'rgb(255, 255, 255)'
  }
  const selectors = ['h1', 'h2', 'label', '.team .name', '.team .score', '.status-live', '.meta', '.ticker th', '.price', '.change.up', '.change.down', '#badge-state', '.league h3']
  return selectors.map((sel) => {
    const el = document.querySelector(sel)
    const a = lum(getComputedStyle(el).color)
    const b = lum(background(el))
    return [sel, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]
  })
})()`
const badge = (page: Page) => page.locator('#badge').getAttribute('data-transport')

for (const runtime of ['node', 'deno'] as const) {
  const test = suite<BrowserContext>(`dashboard in Chromium [${runtime}]`, {} as BrowserContext)
  withBrowser(test, runtime)

  test('the snapshot is on screen before any new event; curl-published scores and quotes show within a second', async ({ s, browser }) => {
    await postScore(s, score('snap-game', 10, 7))
    await publish(s.url, { topic: 'stocks/AAPL', data: { symbol: 'AAPL', price: 200, change: 1.5 } })
    const page = await browser.newPage()
    // Any Content-Security-Policy violation the page causes is recorded, and must not happen.
    const violations = await watchCsp(page)
    const res = await page.goto(s.url)
    assert.match(res!.headers()['content-security-policy'] ?? '', /default-src 'none'; script-src 'self'; style-src 'self'/)
    // Nothing has been published since the page opened: what shows came from the snapshot.
    await page.locator('[data-game="nba/snap-game"]').waitFor({ timeout: 5000 })
    assert.equal(await cardScore(page, 'nba/snap-game'), ['10', '7'])
    assert.is(await page.locator('[data-symbol="AAPL"] .price').textContent(), '200.00')
    await until('the feed to be live', async () => ((await page.locator('#badge').getAttribute('data-state')) === 'open' ? true : undefined))

    const r = await postScore(s, score('snap-game', 13, 7))
    assert.is(r.status, 201)
    await page.locator('[data-game="nba/snap-game"] [data-side="home"]', { hasText: '13' }).waitFor({ timeout: 1000 })
    assert.match((await page.locator('#announcer').textContent())!, /Home snap-game 13, Away snap-game 7/)
    await curl(['-X', 'POST', `${s.url}/api/quotes`, '-H', 'Content-Type: application/json', '-d', '{"symbol":"AAPL","price":201.25,"change":-0.5}'])
    await page.locator('[data-symbol="AAPL"] .price', { hasText: '201.25' }).waitFor({ timeout: 1000 })
    assert.match((await page.locator('[data-symbol="AAPL"] .change').textContent())!, /▼ −0\.50/)
    mkdirSync(`${ROOT}test-artifacts`, { recursive: true })
    await page.screenshot({ path: `${ROOT}test-artifacts/dashboard-${runtime}.png`, fullPage: true })
    assert.equal(await violations(), [], 'no CSP violation')
    await page.close()
  })

  test('opened fresh, each sparkline is drawn at once (rewind) and each game lists its last changes; "N watching" is live', async ({ s, browser }) => {
    for (let i = 0; i < 12; i++) await publish(s.url, { topic: 'stocks/MSFT', data: { symbol: 'MSFT', price: 300 + i, change: 1 } })
    for (const [h, a] of [
      [0, 0],
      [2, 0],
      [2, 3],
      [2, 3], // a clock tick: not a change
      [5, 3],
    ] as const)
      await postScore(s, score('rw-game', h, a))
    const page = await browser.newPage()
    await page.goto(s.url)
    const card = page.locator('[data-game="nba/rw-game"]')
    await card.waitFor({ timeout: 5000 })
    // Nothing was published since the page opened: the twelve prices and the changes came with the snapshot.
    await until('the MSFT sparkline', async () => ((await page.locator('[data-symbol="MSFT"] .spark').getAttribute('data-points')) === '12' ? true : undefined))
    assert.equal(await cardScore(page, 'nba/rw-game'), ['5', '3'])
    assert.is(await card.locator('.recent').textContent(), '2–3 · 2–0 · 0–0')
    await until('one watching', async () => ((await card.locator('.watching').getAttribute('data-watching')) === '1' ? true : undefined))
    const second = await browser.newPage()
    await second.goto(s.url)
    await until('two watching, on the first page', async () => ((await card.locator('.watching').getAttribute('data-watching')) === '2' ? true : undefined))
    assert.is(await card.locator('.watching').textContent(), '2 watching')
    await second.close()
    await until('one watching again', async () => ((await card.locator('.watching').getAttribute('data-watching')) === '1' ? true : undefined))
    await page.close()
  })

  test('text meets WCAG AA contrast (4.5:1) on its background, at phone width too', async ({ s, browser }) => {
    await postScore(s, score('contrast', 1, 2))
    await publish(s.url, [
      { topic: 'stocks/AAPL', data: { symbol: 'AAPL', price: 10, change: 1 } },
      { topic: 'stocks/MSFT', data: { symbol: 'MSFT', price: 10, change: -1 } },
    ])
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await page.goto(s.url)
    await page.locator('[data-game="nba/contrast"]').waitFor()
    await page.locator('.change.down').waitFor()
    // A string, not a function: tsx would wrap a function's inner helpers in a __name() the page lacks.
    const ratios = (await page.evaluate(CONTRAST_SCRIPT)) as [string, number][]
    for (const [sel, ratio] of ratios) assert.ok(ratio >= 4.5, `${sel}: ${ratio.toFixed(2)}:1`)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`)
    await page.close()
  })

  test('the league filter and the watch list change what is shown; the watch list survives a reload', async ({ s, browser }) => {
    await postScore(s, score('filter-a', 1, 0, 'nhl'))
    await postScore(s, score('filter-b', 2, 0, 'epl'))
    const page = await browser.newPage()
    await page.goto(s.url)
    await page.locator('[data-game="epl/filter-b"]').waitFor()
    await page.selectOption('#league-filter', 'nhl')
    assert.is(await page.locator('[data-game="epl/filter-b"]').count(), 0)
    assert.is(await page.locator('[data-game="nhl/filter-a"]').count(), 1)
    await page.selectOption('#league-filter', '')
    assert.is(await page.locator('[data-game="epl/filter-b"]').count(), 1)

    await publish(s.url, { topic: 'stocks/ZZZ', data: { symbol: 'ZZZ', price: 5 } })
    assert.is(await page.locator('[data-symbol="ZZZ"]').count(), 0)
    await page.fill('#watch-input', 'zzz')
    await page.click('#watch-form button')
    await page.locator('[data-symbol="ZZZ"] .price', { hasText: '5.00' }).waitFor({ timeout: 3000 })
    await publish(s.url, { topic: 'stocks/ZZZ', data: { symbol: 'ZZZ', price: 6 } })
    await page.locator('[data-symbol="ZZZ"] .price', { hasText: '6.00' }).waitFor({ timeout: 1000 })
    await page.click('[data-remove="MSFT"]')
    assert.is(await page.locator('[data-symbol="MSFT"]').count(), 0)
    await page.reload()
    await page.locator('[data-symbol="ZZZ"]').waitFor()
    assert.is(await page.locator('[data-symbol="MSFT"]').count(), 0)
    await page.close()
  })

  test('without WebSocket the page updates over SSE, and without EventSource too, over long polling', async ({ s, browser }) => {
    for (const [script, transport] of [
      ['delete window.WebSocket', 'sse'],
      ['delete window.WebSocket; delete window.EventSource', 'poll'],
    ] as const) {
      const page = await browser.newPage()
      await page.addInitScript(script)
      await page.goto(s.url)
      await until(`the badge to say ${transport}`, async () => ((await badge(page)) === transport ? true : undefined))
      assert.match((await page.locator('#badge-transport').textContent())!, transport === 'sse' ? /SSE/ : /long polling/)
      const game = `fallback-${transport}`
      await postScore(s, score(game, 3, 1))
      await page.locator(`[data-game="nba/${game}"]`).waitFor({ timeout: 3000 })
      await postScore(s, score(game, 4, 1))
      await page.locator(`[data-game="nba/${game}"] [data-side="home"]`, { hasText: '4' }).waitFor({ timeout: 3000 })
      await page.close()
    }
  })

  test.run()

  const reconnect = suite(`dashboard reconnects [${runtime}]`)
  reconnect('the server closes the page socket; events published meanwhile appear, each once', async () => {
    const s = await startServer(runtime, { MAX_CONNECTION_AGE: '0.7' })
    const browser = await launchChromium()
    try {
      await publish(s.url, { topic: 'stocks/RCN', data: { symbol: 'RCN', price: 1 } })
      const page = await browser.newPage()
      await page.addInitScript(() => localStorage.setItem('livefeed.watchlist', '["RCN"]'))
      await page.goto(s.url)
      await page.locator('[data-symbol="RCN"] .price', { hasText: '1.00' }).waitFor()
      const states: string[] = []
      await page.exposeFunction('recordState', (st: string) => states.push(st))
      await page.evaluate(() =>
        new MutationObserver(() =>
          (window as unknown as { recordState(s: string): void }).recordState(document.getElementById('badge')!.dataset.state!),
        ).observe(document.getElementById('badge')!, { attributes: true }),
      )
      // 60 quotes over ~3 s: the page's socket is closed every ~0.7 s meanwhile.
      for (let i = 1; i <= 60; i++) {
        await publish(s.url, { topic: 'stocks/RCN', data: { symbol: 'RCN', price: 1 + i / 100 } })
        await new Promise((r) => setTimeout(r, 50)) // publishing pace, not synchronisation
      }
      await page.locator('[data-symbol="RCN"] .price', { hasText: '1.60' }).waitFor({ timeout: 5000 })
      assert.ok(states.filter((x) => x === 'reconnecting').length >= 2, `states: ${states}`)
      assert.is(await page.locator('[data-symbol="RCN"]').getAttribute('data-updates'), '60', 'every quote once')
      assert.is(await page.locator('[data-symbol="RCN"] svg').getAttribute('data-points'), '40')
    } finally {
      await browser.close()
      await s.stop()
    }
  })
  reconnect.run()
}

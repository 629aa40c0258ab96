/**
 * The game chat (static/chat.html) in Chromium, on Node and Deno: two users in two browser contexts chat,
 * see each other typing (an ephemeral topic), a forged sender is impossible, and a reload shows the recent
 * messages (rewind). The page's tokens are minted as `npm run demo` mints them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { until } from '../harness/wait.ts'
import { type BrowserContext, watchCsp, withBrowser } from './helpers/browser.ts'
import { publish } from './helpers/http.ts'
import { mint, TOKEN_ENV } from './helpers/tokens.ts'

/** The demo's grant: publish chat messages and typing under one's own name only. */
const demoToken = (sub: string) => mint({ sub, publish: ['chat/*/*/{sub}', 'typing/*/*/{sub}'] })
const ENV = { ...TOKEN_ENV, EPHEMERAL_TOPICS: 'typing/**' }

for (const runtime of ['node', 'deno'] as const) {
  const test = suite<BrowserContext>(`game chat in Chromium [${runtime}]`, {} as BrowserContext)
  withBrowser(test, runtime, ENV)

  test('two users chat, see each other typing, and a reload shows the recent messages', async ({ s, browser }) => {
    await publish(
      s.url,
      { topic: 'scores/nba/chat-game', data: { league: 'nba', game: 'chat-game', home: { team: 'Home', score: 3 }, away: { team: 'Away', score: 1 } } },
      { Authorization: `Bearer ${TOKEN_ENV.PUBLISH_TOKEN}` },
    )
    const url = (token: string) => `${s.url}/chat.html?room=nba/chat-game#token=${token}`
    const [a, b] = await Promise.all([browser.newContext(), browser.newContext()])
    const alice = await a.newPage()
    const bob = await b.newPage()
    const violations = await watchCsp(alice)
    await alice.goto(url(await demoToken('alice')))
    await bob.goto(url(await demoToken('bob')))
    for (const p of [alice, bob]) {
      await until('live', async () => ((await p.locator('#badge').getAttribute('data-state')) === 'open' ? true : undefined))
      assert.is(await p.locator('#room-score').textContent(), 'Home 3 – 1 Away', 'the game beside the chat')
    }
    assert.match((await alice.locator('#me').textContent())!, /you are alice/)

    await bob.locator('#say-input').pressSequentially('hel')
    await alice.locator('#typing', { hasText: 'bob is typing…' }).waitFor({ timeout: 5000 })
    await bob.locator('#say-input').fill('hello from bob')
    await bob.locator('#say-input').press('Enter')
    await alice.locator('.message', { hasText: 'hello from bob' }).waitFor({ timeout: 5000 })
    // Typing ends with the message.
    await alice.locator('#typing', { hasText: /^$/ }).waitFor({ timeout: 5000 })
    await alice.locator('#say-input').fill('hi bob')
    await alice.locator('#say-input').press('Enter')
    await bob.locator('.message', { hasText: 'hi bob' }).waitFor({ timeout: 5000 })
    assert.equal(await bob.locator('.message .from').allTextContents(), ['bob', 'alice'])
    assert.is(await alice.locator('.message.mine .text').textContent(), 'hi bob')

    // The sender is the topic's last segment, granted by {sub}: alice cannot speak as bob.
    const forged = await alice.evaluate(
      async (token) => {
        const r = await fetch('/api/events', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ topic: 'chat/nba/chat-game/bob', data: { text: 'I am bob' } }),
        })
        return r.status
      },
      await demoToken('alice'),
    )
    assert.is(forged, 403)

    await bob.reload()
    await bob.locator('.message', { hasText: 'hi bob' }).waitFor({ timeout: 5000 })
    assert.equal(await bob.locator('.message .text').allTextContents(), ['hello from bob', 'hi bob'], 'the recent messages, once each, in order')
    assert.equal(await violations(), [], 'no CSP violation')
    await a.close()
    await b.close()
  })

  test.run()
}

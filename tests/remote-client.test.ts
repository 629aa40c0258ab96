import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer } from '../harness/server.ts'
import { createTestHost, type TestHost } from './helpers/netns.ts'

/** Publishing from another host: a client in a network namespace of its own, over a veth pair. */
for (const runtime of ['node', 'deno'] as const) {
  const test = suite<{ host: TestHost }>(`publishing from a non-loopback client [${runtime}]`, {} as { host: TestHost })
  test.before((ctx) => {
    ctx.host = createTestHost()
  })
  test.after(({ host }) => host.destroy())

  const curl = async (host: TestHost, url: string, extra: string[] = []) => {
    const out = await host.run('curl', ['-sS', '-w', '\n%{http_code}', ...extra, url])
    const i = out.lastIndexOf('\n')
    return { status: Number(out.slice(i + 1)), body: JSON.parse(out.slice(0, i)) }
  }
  const post = ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"topic":"remote/a","data":1}']

  test('without PUBLISH_TOKEN: 403 for a remote publisher, reads stay open', async ({ host }) => {
    const s = await startServer(runtime, { HOST: host.hostIp })
    try {
      const base = `http://${host.hostIp}:${s.port}`
      const r = await curl(host, `${base}/api/events`, post)
      assert.is(r.status, 403)
      assert.is(r.body.error.code, 'forbidden')
      const read = await curl(host, `${base}/api/snapshot?topics=remote/a`)
      assert.is(read.status, 200)
      assert.equal(read.body.events, [], 'nothing was stored')
    } finally {
      await s.stop()
    }
  })

  test('with PUBLISH_TOKEN: a remote publisher with the token stores, without it gets 401', async ({ host }) => {
    const s = await startServer(runtime, { HOST: host.hostIp, PUBLISH_TOKEN: 'remote-secret' })
    try {
      const base = `http://${host.hostIp}:${s.port}`
      assert.is((await curl(host, `${base}/api/events`, post)).status, 401)
      const ok = await curl(host, `${base}/api/events`, [...post, '-H', 'Authorization: Bearer remote-secret'])
      assert.is(ok.status, 201)
      assert.is(ok.body.topic, 'remote/a')
    } finally {
      await s.stop()
    }
  })

  test.run()
}

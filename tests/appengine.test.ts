import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { request } from './helpers/http.ts'
import { sharedRedis } from './helpers/redis.ts'
import { ROOT, startServer } from './helpers/server.ts'

type AppYaml = {
  runtime: string
  env: string
  network: { session_affinity: boolean }
  liveness_check: { path: string }
  readiness_check: { path: string }
  automatic_scaling: { min_num_instances: number }
  env_variables: Record<string, string>
}

const app = parse(readFileSync(`${ROOT}app.yaml`, 'utf8')) as AppYaml
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> }

test('app.yaml: flexible Node runtime, session affinity, health checks, at least two instances, Redis', () => {
  assert.is(app.runtime, 'nodejs')
  assert.is(app.env, 'flex')
  assert.is(app.network.session_affinity, true)
  assert.is(app.liveness_check.path, '/liveness_check')
  assert.is(app.readiness_check.path, '/readiness_check')
  assert.ok(app.automatic_scaling.min_num_instances >= 2)
  assert.match(app.env_variables.REDIS_URL!, /^redis:\/\//)
  assert.is(app.env_variables.NODE_ENV, 'production')
  assert.match(pkg.scripts['gcp-build']!, /build/)
  assert.is(pkg.scripts.start, 'node dist/server.mjs')
})

test('every path app.yaml names answers on a server configured as app.yaml says', async () => {
  const env = { ...app.env_variables, REDIS_URL: (await sharedRedis()).url, REDIS_PREFIX: `appyaml${process.pid}:`, PUBLISH_TOKEN: 'test-token' }
  const s = await startServer('node', env)
  try {
    for (const path of [app.liveness_check.path, app.readiness_check.path]) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 200, path)
    }
    assert.is((await request(`${s.url}/healthz`)).body.engine, 'redis')
  } finally {
    await s.stop()
  }
})

test.run()

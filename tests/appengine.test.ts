import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { sharedRedis } from '../harness/redis.ts'
import { ROOT, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { request } from './helpers/http.ts'

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
  // App Engine runs `npm start`: the bundle, with Node's young generation bounded and its code optimised sooner
  // (docs/deploy.md). Every test's server is started with the same flags (harness/server.ts).
  assert.match(pkg.scripts.start!, /^node --max-semi-space-size=16 --invocation-count-for-turbofan=750 --invocation-count-for-maglev=100 dist\/server\.mjs$/)
})

// What App Engine flexible sets in an instance's environment, beside app.yaml's own variables.
const GAE_ENV = { GAE_SERVICE: 'default', GAE_VERSION: 'v1', GAE_INSTANCE: 'aef-default-v1-test', GOOGLE_CLOUD_PROJECT: 'livefeed-test' }

test('every path app.yaml names answers on a server configured as app.yaml says, and its logs are as Cloud Logging reads them', async () => {
  const env = {
    ...app.env_variables,
    ...GAE_ENV,
    LOG_LEVEL: 'debug',
    REDIS_URL: (await sharedRedis()).url,
    REDIS_PREFIX: `appyaml${process.pid}:`,
    PUBLISH_TOKEN: 'test-token',
  }
  const s = await startServer('node', env)
  try {
    for (const path of [app.liveness_check.path, app.readiness_check.path]) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 200, path)
    }
    assert.is((await request(`${s.url}/healthz`)).body.engine, 'redis')

    const lines = () =>
      s
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{"severity"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    const listening = lines().find((l) => l.message === 'listening')
    assert.ok(listening, `a "listening" line with severity and message:\n${s.output()}`)
    assert.is(listening.severity, 'INFO')
    assert.match(String(listening.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.is(listening.level, undefined, 'no numeric level beside the severity')

    // A refused publish behind Google's front end: its debug line carries the request's trace.
    const trace = '105445aa7843bc8bf206b12000100000'
    const r = await request(`${s.url}/api/events`, {
      method: 'POST',
      body: '{"topic":"bad topic"}',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-token', 'x-cloud-trace-context': `${trace}/1;o=1` },
    })
    assert.is(r.status, 400)
    const refused = await until('the refusal logged', () => lines().find((l) => l.message === 'request refused'))
    assert.is(refused.severity, 'DEBUG')
    assert.is(refused['logging.googleapis.com/trace'], `projects/${GAE_ENV.GOOGLE_CLOUD_PROJECT}/traces/${trace}`)
    assert.is(refused.code, r.body.error.code)
  } finally {
    await s.stop()
  }
})

test.run()

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { soak } from './soak/soak.ts'

// The soak of `npm run soak`, at 30 seconds: three instances on Redis behind a proxy with no affinity, every
// transport, random cuts, a SIGTERM, a SIGKILL and a 5-second Redis stop. Every check is the full soak's.
test('soak, 30 s: nothing lost, duplicated or reordered through SIGTERM, SIGKILL and a Redis stop; metrics agree; the heap returns, RSS peaks within its bound', async () => {
  const r = await soak({ seconds: 30, subscribers: 300, rate: 40, say: (l) => console.log(`soak: ${l}`) })
  console.log(`\n${r.table}\n`)
  assert.ok(r.counts.deliveries > r.counts.events, 'events were delivered')
  assert.equal(r.failures, [])
})

test.run()

/**
 * `npm run soak [-- --minutes 10 --subscribers 2000 --rate 20]`: the soak of
 * tests/soak/soak.ts at full length. Prints the summary table; exits 1 on any
 * loss, duplicate, reordering or other failed check.
 */
import { parseArgs } from 'node:util'
import { soak } from './soak.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    subscribers: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '20' },
    workers: { type: 'string' },
  },
})
const started = new Date()
const r = await soak({
  seconds: Number(values.minutes) * 60,
  subscribers: Number(values.subscribers),
  rate: Number(values.rate),
  workers: values.workers ? Number(values.workers) : undefined,
  say: (line) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${line}`),
})
console.log(
  `\nsoak ${started.toISOString()}: ${values.minutes} min, ${values.subscribers} subscribers, ${values.rate} events/s${values.workers ? `, instances of ${values.workers} workers` : ''}\n`,
)
console.log(r.table)
if (r.failures.length) {
  console.log(`\nFAILED:\n${r.failures.map((f) => `- ${f}`).join('\n')}`)
  process.exit(1)
}
console.log('\nno event lost, duplicated or reordered; every check passed')
process.exit(0)

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Backlog } from '../../src/core/backlog.ts'
import { PreparedEvent } from '../../src/core/prepared.ts'

// Conflation's queue: what a client that fell behind is sent once its socket has room, in the order sent.
let seq = 0
const ev = (topic: string, conflatable: boolean) =>
  new PreparedEvent({ id: `e1-${String(++seq).padStart(4, '0')}`, topic, data: seq, ts: 0 }, false, conflatable)
const drain = (b: Backlog) => {
  const out: [string, string, number][] = []
  for (let h = b.shift(); h; h = b.shift()) out.push([h.p.id ?? '', h.p.event.topic, h.replaced])
  return out
}

test('the newest event of a conflated topic replaces the pending one and counts what it replaced; others stay, all in cursor order', () => {
  seq = 0
  const b = new Backlog()
  b.push(ev('stocks/A', true), true) // 1
  b.push(ev('scores/x', false), false) // 2
  b.push(ev('stocks/A', true), true) // 3 replaces 1
  b.push(ev('stocks/B', true), true) // 4
  b.push(ev('stocks/A', true), true) // 5 replaces 3 (and so 1)
  b.push(ev('scores/x', false), false) // 6
  assert.is(b.size, 4)
  assert.equal(drain(b), [
    ['e1-0002', 'scores/x', 0],
    ['e1-0004', 'stocks/B', 0],
    ['e1-0005', 'stocks/A', 2],
    ['e1-0006', 'scores/x', 0],
  ])
  assert.is(b.size, 0)
  assert.is(b.bytes, 0, 'bytes go back to zero')
})

test('bytes count only what is still to send; thousands of replacements compact, and a topic sent starts its count anew', () => {
  seq = 0
  const b = new Backlog()
  for (let i = 0; i < 5000; i++) b.push(ev(`stocks/S${i % 10}`, true), true)
  assert.is(b.size, 10)
  const one = ev('stocks/S0', true).json.length
  assert.ok(b.bytes <= 10 * one && b.bytes >= 10 * (one - 2), `${b.bytes} bytes for 10 events of ~${one}`)
  const out = drain(b)
  assert.equal(
    out.map((o) => o[2]),
    Array(10).fill(499),
  )
  assert.equal(
    out.map((o) => o[0]),
    [...out.map((o) => o[0])].sort(),
    'cursor order',
  )
  b.push(ev('stocks/S0', true), true)
  assert.equal(
    drain(b).map((o) => o[2]),
    [0],
  )
})

test.run()

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import { PreparedEvent } from '../../src/core/prepared.ts'
import { PatternSet, TopicIndex } from '../../src/core/topic-index.ts'
import { compareCursors, formatCursor, isAfter, parseCursor } from '../../src/protocol/cursor.ts'
import type * as events from '../../src/protocol/events.ts'
import { patternProblem, topicProblem } from '../../src/protocol/grammar.ts'
import { SSE_EVENTS, sseFrames } from '../../src/protocol/sse.ts'
import { clientFrame, serverFrame, wsFrames } from '../../src/protocol/ws.ts'

const cursor = suite('fast: cursor codec')
cursor('round trip, and anything else is not a cursor', () => {
  assert.equal(parseCursor(formatCursor('abc', '0001z')), { epoch: 'abc', pos: '0001z' })
  for (const bad of ['', 'abc', '-1', 'abc-', 'ABC-1', 'a-b-c', 'a b-1', `${'a'.repeat(17)}-1`, `a-${'1'.repeat(33)}`])
    assert.is(parseCursor(bad), undefined, bad)
})
cursor('one epoch orders by position; different epochs have no order', () => {
  assert.is(compareCursors('e1-0009', 'e1-000a'), -1)
  assert.is(compareCursors('e1-000a', 'e1-000a'), 0)
  assert.is(compareCursors('e1-0010', 'e1-000z'), 1)
  // Different widths of one epoch compare as numbers, not strings.
  assert.is(compareCursors('e1-zz', 'e1-00001'), 1)
  assert.is(compareCursors('e1-00001', 'e1-2'), -1)
  // "e2-…" > "e1-…" as strings: by meaning, neither is before the other.
  assert.is(compareCursors('e2-0001', 'e1-0009'), undefined)
  assert.is(compareCursors('e1-0009', 'e12-0001'), undefined)
  assert.is(isAfter('e2-0001', 'e1-0000'), false)
  assert.is(isAfter('e1-0002', 'e1-0001'), true)
})
cursor.run()

const grammar = suite('fast: topic grammar and the topic index')
grammar('topics and patterns', () => {
  for (const t of ['a', 'scores/nba/lal-bos', 'a/b/c/d/e/f/g/h', 'A_z.0:@-', 'x'.repeat(256)]) assert.is(topicProblem(t), undefined, t)
  for (const t of ['', 'a b', 'a//b', '/a', 'a/', 'a/*', 'a/**', 'a/b/c/d/e/f/g/h/i', 'x'.repeat(257), 'é']) assert.type(topicProblem(t), 'string', t)
  for (const p of ['a/*', 'a/**', '*/b', '**', '*/*/c']) assert.is(patternProblem(p), undefined, p)
  for (const p of ['a/**/b', '***', 'a/*b', '', 'a b/**']) assert.type(patternProblem(p), 'string', p)
})
grammar('matching: * is one segment, ** one or more, exact topics by hash', () => {
  const cases: [string, string, boolean][] = [
    ['scores/nba/g1', 'scores/nba/g1', true],
    ['scores/*/g1', 'scores/nba/g1', true],
    ['scores/*', 'scores/nba/g1', false],
    ['scores/**', 'scores/nba/g1', true],
    ['scores/**', 'scores', false],
    ['**', 'scores', true],
    ['*/nba/**', 'scores/nba/g1/q4', true],
    ['*/nba/**', 'scores/nfl/g1', false],
    ['scores/nba/g1', 'scores/nba/g2', false],
  ]
  for (const [pattern, topic, want] of cases) assert.is(new PatternSet([pattern]).matches(topic), want, `${pattern} ~ ${topic}`)
})
grammar('the index finds each value under each matching pattern, and forgets removed ones', () => {
  const idx = new TopicIndex<string>()
  idx.add('a/**', 'x')
  idx.add('a/b', 'x')
  idx.add('a/*', 'y')
  idx.add('c/d', 'z')
  const seen = (topic: string) => {
    const out: string[] = []
    idx.forEach(topic, (val) => out.push(val))
    return out.sort()
  }
  assert.equal(seen('a/b'), ['x', 'x', 'y'])
  assert.equal(seen('a/b/c'), ['x'])
  assert.equal(seen('c/d'), ['z'])
  idx.remove('a/**', 'x')
  idx.remove('c/d', 'z')
  assert.equal(seen('a/b'), ['x', 'y'])
  assert.equal(seen('c/d'), [])
  assert.is(idx.matches('c/d'), false)
  assert.ok(new PatternSet(['a', 'b/c']).exactOnly)
  assert.not.ok(new PatternSet(['a', 'b/*']).exactOnly)
})
grammar.run()

const frames = suite('fast: frames are written by the protocol and read back by its schemas')
const event = { id: 'e1-0001', topic: 'a/b', data: { n: 1, s: 'é' }, ts: 1 }
frames('every server frame the encoders write fits the server frame schema', () => {
  const written = [
    wsFrames.welcome('e1-0000', 25_000),
    wsFrames.subscribed(['a/**'], 'e1-0000'),
    wsFrames.snapshot([event], 'e1-0001'),
    new PreparedEvent(event, false).wsFrame,
    wsFrames.reset('stale_cursor'),
    wsFrames.unsubscribed(['a/**']),
    wsFrames.pong,
    wsFrames.error({ code: 'invalid_json', message: 'no' }),
    wsFrames.conflated(new PreparedEvent(event, false).json, 3),
  ]
  const types = written.map((text) => v.parse(serverFrame, JSON.parse(text)).type)
  assert.equal(types, ['welcome', 'subscribed', 'snapshot', 'event', 'reset', 'unsubscribed', 'pong', 'error', 'event'])
  assert.equal(v.parse(serverFrame, JSON.parse(written.at(-1)!)), { type: 'event', ...event, conflated: 3 })
  const e = v.parse(serverFrame, JSON.parse(new PreparedEvent(event, false).wsFrame))
  assert.equal(e, { type: 'event', ...event })
})
frames('a frame the protocol does not describe is refused by the schema', () => {
  for (const bad of [
    { type: 'event', id: 'nope', topic: 'a', data: 1, ts: 1 },
    { type: 'event', id: 'e1-1', topic: 'a', ts: 1 },
    { type: 'hello' },
    { type: 'error', code: 'no_such_code', message: '' },
  ]) {
    assert.not.ok(v.is(serverFrame, bad), JSON.stringify(bad))
  }
  assert.ok(v.is(clientFrame, { type: 'subscribe', topics: ['a'], since: 'e1-1' }))
  assert.not.ok(v.is(clientFrame, { type: 'subscribe', topics: 'a' }))
})
frames('every SSE message the encoders write parses as its event name says', () => {
  const parse = (text: string) => {
    const lines = text.trimEnd().split('\n')
    const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2)
    return { event: field('event') ?? 'message', id: field('id'), data: JSON.parse(field('data') ?? 'null') as unknown }
  }
  const messages = [
    new TextDecoder().decode(new PreparedEvent(event, false).sseBytes),
    sseFrames.snapshot([event], 'e1-0001'),
    sseFrames.reset('stale_cursor'),
    sseFrames.error({ code: 'engine_unavailable', message: 'x' }),
    sseFrames.conflated(event.id, JSON.stringify(event), 2),
  ].map(parse)
  assert.equal(
    messages.map((m) => m.event),
    ['message', 'snapshot', 'reset', 'feed-error', 'message'],
  )
  assert.equal(messages.at(-1)!.data, { ...event, conflated: 2 })
  for (const m of messages) {
    assert.ok(m.event in SSE_EVENTS)
    if (m.event === 'message' || m.event === 'snapshot' || m.event === 'reset' || m.event === 'feed-error')
      assert.ok(v.is(SSE_EVENTS[m.event], m.data), m.event)
  }
  assert.is(messages[0]!.id, event.id)
  assert.is(messages[1]!.id, 'e1-0001')
})
frames.run()

/** The written-out event types (JSR needs them explicit) and what the schemas infer are one type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const written = suite('fast: written-out protocol types')
written('equal what the schemas validate', () => {
  const checks: [
    Same<v.InferOutput<typeof events.feedEvent>, events.FeedEvent>,
    Same<v.InferOutput<typeof events.deliveredEvent>, events.DeliveredEvent>,
    Same<v.InferOutput<typeof events.eventInput>, events.EventInput>,
    Same<v.InferOutput<typeof events.snapshotSchema>, events.Snapshot>,
    Same<v.InferOutput<typeof events.resetReason>, events.ResetReason>,
  ] = [true, true, true, true, true]
  assert.equal(checks, [true, true, true, true, true])
})
written.run()

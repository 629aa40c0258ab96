import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { compareIds, decodeLatest } from '../../src/engines/redis-codec.ts'
import { entries, hash, lastGeneratedId, pair, ReplyError, streamRead, strings, stringsOrNulls, strOrNull } from '../../src/engines/redis-reply.ts'

const refused = (read: () => unknown): boolean => {
  try {
    read()
    return false
  } catch (err) {
    return err instanceof ReplyError
  }
}

test('replies of the expected shape come through as they are', () => {
  const e = [
    ['1-0', ['e', 'E', 't', 'a', 'd', '1', 'ts', '5']],
    ['2-0', []],
  ]
  assert.equal(entries(e, 'x'), e)
  assert.equal(streamRead([['stream', e]], 'x'), e)
  assert.equal(streamRead(null, 'x'), [], 'a blocking read that timed out')
  assert.equal(strings(['a', 'b'], 'x'), ['a', 'b'])
  assert.equal(stringsOrNulls(['a', null], 'x'), ['a', null])
  assert.equal(hash({ a: '1' }, 'x'), { a: '1' })
  assert.is(strOrNull(null, 'x'), null)
  assert.equal(pair(['E', '3-1'], 'x'), ['E', '3-1'])
  assert.is(lastGeneratedId(['length', 2, 'last-generated-id', '7-3', 'entries-added', 2]), '7-3')
  assert.is(lastGeneratedId(['length', 0]), '0-0')
})

test('a reply of another shape is refused with a ReplyError, never passed on', () => {
  assert.ok(refused(() => entries([['1-0', 'not fields']], 'x')))
  assert.ok(refused(() => entries([['1-0']], 'x')))
  assert.ok(refused(() => entries([[1, []]], 'x')))
  assert.ok(refused(() => entries('OK', 'x')))
  assert.ok(
    refused(() =>
      streamRead(
        [
          ['a', []],
          ['b', []],
        ],
        'x',
      ),
    ),
    'one stream was read',
  )
  assert.ok(refused(() => streamRead({}, 'x')))
  assert.ok(refused(() => strings(['a', 1], 'x')))
  assert.ok(refused(() => stringsOrNulls([undefined], 'x')))
  assert.ok(refused(() => hash(['a', 'b'], 'x')))
  assert.ok(refused(() => hash({ a: 1 }, 'x')))
  assert.ok(refused(() => strOrNull(5, 'x')))
  assert.ok(refused(() => pair(['a'], 'x')))
  assert.ok(refused(() => pair(['a', 'b', 'c'], 'x')))
  assert.ok(refused(() => lastGeneratedId('7-3')))
  assert.ok(refused(() => lastGeneratedId(['last-generated-id', 7])))
})

test('stream ids compare as numbers, not as strings', () => {
  assert.ok(compareIds('9-0', '10-0') < 0)
  assert.ok(compareIds('5-9', '5-10') < 0)
  assert.ok(compareIds('5-10', '5-10') === 0)
  assert.ok(compareIds('1700000000000-1', '1700000000000-0') > 0)
})

test("the latest-per-topic value's parts are split at its first three spaces; the data keeps its own", () => {
  const e = decodeLatest('scores', 'EPOCH 12-3 1700 {"a":"x y z"}')
  assert.equal(e.data, { a: 'x y z' })
  assert.is(e.ts, 1700)
  assert.is(e.topic, 'scores')
})

test.run()

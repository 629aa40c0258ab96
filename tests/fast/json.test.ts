import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FeedError } from '../../src/core/errors.ts'
import { parseClientJson } from '../../src/core/json.ts'

const codeOf = (text: string): string => {
  try {
    parseClientJson(text, 64)
    return 'ok'
  } catch (err) {
    return err instanceof FeedError ? err.code : 'thrown'
  }
}

test('numbers that parse to ±Infinity are refused, written with an exponent or in full; finite ones of any length pass', () => {
  const max =
    '179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368'
  assert.is(max.length, 309)
  assert.is(codeOf(`{"n":${max}}`), 'ok', 'the largest double, written out in full')
  assert.is(codeOf(`{"n":${'9'.repeat(309)}}`), 'validation_failed', '309 nines are over it')
  assert.is(codeOf(`[${'9'.repeat(308)}]`), 'ok', 'no 308-digit integer can be')
  for (const text of ['1e999', '[1,-1E400]', '{"a":{"b":0.5e309}}', `${'1'.repeat(400)}.5`]) assert.is(codeOf(text), 'validation_failed', text)
  for (const text of ['1e308', '[true,false,null]', '{"e":"1e999"}', `"${'9'.repeat(400)}"`, `0.${'1'.repeat(400)}`])
    assert.is(codeOf(text), 'ok', text.slice(0, 30))
})

test('depth is checked before the parse, strings and their escapes skipped', () => {
  assert.is(codeOf('['.repeat(65) + ']'.repeat(65)), 'too_deep')
  assert.is(codeOf('['.repeat(64) + ']'.repeat(64)), 'ok')
  assert.is(codeOf(`["\\"[[[[", ${'['.repeat(63)}${']'.repeat(63)}]`), 'ok', 'brackets inside a string do not count')
  // A quote after an even run of backslashes closes the string; after an odd run it is escaped.
  assert.is(codeOf(`["\\\\", ${'['.repeat(64)}${']'.repeat(64)}]`), 'too_deep', 'an escaped backslash, then the closing quote')
  assert.is(codeOf(`["\\\\\\"[[", ${'['.repeat(63)}${']'.repeat(63)}]`), 'ok', 'three backslashes escape the quote')
  assert.is(codeOf(`{"e":"\\\\", "n":1e999}`), 'validation_failed', 'an exponent right after a string that ends in an escape')
  assert.is(codeOf('["unterminated [[['), 'invalid_json')
  assert.is(codeOf('['.repeat(10_000)), 'too_deep', 'refused before JSON.parse sees it')
  assert.is(codeOf('{"a":'), 'invalid_json')
})

test.run()

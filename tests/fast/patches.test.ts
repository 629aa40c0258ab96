import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT } from '../../harness/server.ts'
import { applyPatch, PATCHES } from '../../scripts/patches.mjs'

// scripts/patches.mjs edits dependencies' code while the server is bundled; each edit must match the installed
// version exactly once, or the build fails rather than bundle the code unpatched.
test('every patch is for the installed version and each of its edits matches exactly once', () => {
  for (const p of PATCHES) {
    const installed = JSON.parse(readFileSync(`${ROOT}node_modules/${p.module}/package.json`, 'utf8')) as { version: string }
    assert.is(installed.version, p.version, `${p.module}: the patch is for ${p.version}`)
    const text = readFileSync(`${ROOT}node_modules/${p.module}/${p.file}`, 'utf8')
    const out = applyPatch(p, text)
    for (const [find, replace] of p.edits) {
      assert.ok(!out.includes(find) || replace.includes(find), `${p.module}: "${find.trim().slice(0, 40)}" is gone`)
      assert.ok(out.includes(replace))
    }
  }
})

test('an edit that matches nowhere, or twice, fails naming the patch', () => {
  const p = { module: 'm', version: '1.0.0', file: 'f.js', why: 'test', edits: [['a = 1', 'a = 2']] as [string, string][] }
  assert.is(applyPatch(p, 'let a = 1;'), 'let a = 2;')
  assert.throws(() => applyPatch(p, 'let b = 1;'), /patch of m\/f\.js no longer applies \(not found\)/)
  assert.throws(() => applyPatch(p, 'a = 1; a = 1;'), /patch of m\/f\.js no longer applies \(found twice\)/)
})

test.run()

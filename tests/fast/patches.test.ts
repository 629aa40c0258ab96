import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT } from '../../harness/server.ts'

// patches/*.patch are applied to node_modules at install (scripts/apply-patches.mjs, patch-package), so the
// code `npm run dev`, these tests and the bundle run is the patched one: each patch is for the installed
// version, and each of its added lines is in the installed file.
const PATCH = /^(.+)\+(\d+\.\d+\.\d+[^.]*)\.patch$/

test('every patch is for the installed version, and node_modules carries it', () => {
  const patches = readdirSync(`${ROOT}patches`).filter((f) => f.endsWith('.patch'))
  assert.ok(patches.length > 0)
  for (const file of patches) {
    const [, name, version] = PATCH.exec(file)!
    const module = name!.replace('+', '/')
    const installed = JSON.parse(readFileSync(`${ROOT}node_modules/${module}/package.json`, 'utf8')) as { version: string }
    assert.is(installed.version, version, `${file} is for the installed ${module}`)
    const text = readFileSync(`${ROOT}patches/${file}`, 'utf8')
    for (const part of text.split(/^diff --git /m).slice(1)) {
      const path = /^a\/(\S+)/.exec(part)![1]!
      const patched = readFileSync(`${ROOT}${path}`, 'utf8')
      const added = part.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'))
      for (const line of added) assert.ok(patched.includes(line.slice(1)), `${path} lacks a line of ${file}: ${line.slice(1).trim()}`)
    }
  }
})

test.run()

// Bundles the Node server (dist/server.mjs), the browser code under static/build/, and the SDK as the
// package's `livefeed/client` (dist/client/index.js, its declarations under dist/types/).
// npm runs it on install (prepare), so `npm install && npm start` works on a fresh clone;
// `--static-only` builds just the browser code, which the Deno run also serves.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  // A production install without devDependencies: nothing to build, dist/ must come from `npm run build`.
  console.log('build: esbuild is not installed (production install?); skipping')
  process.exit(0)
}

const staticOnly = process.argv.includes('--static-only')
const browserEntries = [
  ['src/client/index.ts', 'static/build/livefeed.js'],
  ['src/dashboard/main.ts', 'static/build/dashboard.js'],
  ['src/chat/main.ts', 'static/build/chat.js'],
  // The operators' page; its chart library's stylesheet comes out beside it as static/build/ops.css.
  ['src/ops/main.ts', 'static/build/ops.js'],
].filter(([src]) => existsSync(src))

await Promise.all([
  ...browserEntries.map(([entry, outfile]) =>
    esbuild.build({ entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true }),
  ),
  staticOnly
    ? undefined
    : esbuild.build({
        entryPoints: ['src/runtime/node.ts'],
        outfile: 'dist/server.mjs',
        bundle: true,
        platform: 'node',
        target: 'node24',
        format: 'esm',
        sourcemap: true,
        // ws and pino's deps use require(): give the ESM bundle one.
        banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
        // Optional native speed-ups of ws; it falls back to JS without them.
        external: ['bufferutil', 'utf-8-validate'],
        logLevel: 'warning',
      }),
])
if (!staticOnly) {
  await esbuild.build({
    entryPoints: ['src/client/index.ts'],
    outfile: 'dist/client/index.js',
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    // valibot is a dependency of the package: a user's bundler shares it with their own code.
    external: ['valibot'],
    logLevel: 'warning',
  })
  // Declarations from the sources, whose imports name .ts files: a published .d.ts names the .js beside it.
  rmSync('dist/types', { recursive: true, force: true })
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.client.json'], { stdio: 'inherit' })
  for (const entry of readdirSync('dist/types', { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue
    const file = join(entry.parentPath, entry.name)
    writeFileSync(file, readFileSync(file, 'utf8').replace(/(from '\.{1,2}\/[^']+)\.ts'/g, "$1.js'"))
  }
}
console.log(`build: ${staticOnly ? '' : 'dist/server.mjs, dist/client (the SDK), '}${browserEntries.map((e) => e[1]).join(', ') || 'no browser code'}`)

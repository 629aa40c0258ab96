// Edits to dependencies' code, applied while esbuild bundles the Node server (never to node_modules). Each
// is written against one exact version (pinned in package.json) and fails the build if it no longer applies,
// so an upgrade cannot drop one silently: check whether upstream fixed it, then update or delete it.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** @type {import('./patches.d.mts').Patch[]} */
export const PATCHES = [
  {
    module: '@hono/node-server',
    version: '2.1.11',
    file: 'dist/index.mjs',
    // Measured by `npm run bench:heap`: 11.8 KB of heap per idle WebSocket before, 6.1 KB after the first two
    // edits; the context as a class, see bench/README.md.
    why:
      "upgradeWebSocket's socket handlers close over the request's Hono Context and its env, so every open " +
      'WebSocket keeps the Context, its HonoRequest, the undici Request, the IncomingMessage, their Headers and ' +
      'URLs for its whole life. Read the URL and start the wait before, and hand them to the async function ' +
      'that makes the closures, as arguments. And what the socket keeps for its life should be small: its WSContext ' +
      'becomes a class instance instead of an object literal with a getter and three closures.',
    edits: [
      [
        '\tenv[CONNECTION_SYMBOL_KEY] = connectionSymbol;\n\t(async () => {\n\t\tlet ws;\n\t\ttry {\n\t\t\tws = await waitForWebSocket(env.incoming, connectionSymbol);',
        // As arguments, the URL and the wait live in the async function's frame, gone once it is done, not in
        // the context its closures keep.
        '\tenv[CONNECTION_SYMBOL_KEY] = connectionSymbol;\n\t(async (href, waiting) => {\n\t\tlet ws;\n\t\ttry {\n\t\t\tws = await waiting;',
      ],
      ['\t})();\n\treturn new Response();\n});', '\t})(c.req.url, waitForWebSocket(env.incoming, connectionSymbol));\n\treturn new Response();\n});'],
      [
        // An object literal with a getter is a dictionary-mode object in V8, and its three methods are closures:
        // ~650 bytes per socket. The same context as a class: ~90 (the getter and methods on the prototype).
        '\t\tconst ctx = {\n\t\t\tbinaryType: "arraybuffer",\n\t\t\tclose(code, reason) {\n\t\t\t\tws.close(code, reason);\n\t\t\t},\n\t\t\tprotocol: ws.protocol,\n\t\t\traw: ws,\n\t\t\tget readyState() {\n\t\t\t\treturn ws.readyState;\n\t\t\t},\n\t\t\tsend(source, opts) {\n\t\t\t\tws.send(source, { compress: opts?.compress });\n\t\t\t},\n\t\t\turl: new URL(c.req.url)\n\t\t};',
        '\t\tconst ctx = new UpgradedContext(ws, href);',
      ],
      [
        'const upgradeWebSocket = defineWebSocketHelper(async (c, events, options) => {',
        'class UpgradedContext {\n\tconstructor(ws, href) {\n\t\tthis.binaryType = "arraybuffer";\n\t\tthis.protocol = ws.protocol;\n\t\tthis.raw = ws;\n\t\tthis.url = new URL(href);\n\t}\n\tclose(code, reason) {\n\t\tthis.raw.close(code, reason);\n\t}\n\tget readyState() {\n\t\treturn this.raw.readyState;\n\t}\n\tsend(source, opts) {\n\t\tthis.raw.send(source, { compress: opts?.compress });\n\t}\n}\nconst upgradeWebSocket = defineWebSocketHelper(async (c, events, options) => {',
      ],
      // The message listener was a closure around handleMessage: handleMessage itself does.
      ['\t\tws.on("message", (data, isBinary) => {\n\t\t\thandleMessage(data, isBinary);\n\t\t});', '\t\tws.on("message", handleMessage);'],
    ],
  },
  {
    module: '@hono/node-server',
    version: '2.1.11',
    file: 'dist/index.mjs',
    // Measured by `npm run bench:fanout -- --connect-only`: see bench/README.md.
    why:
      'Every WebSocket upgrade is handed to the app as a full undici Request, built with a copy of all its ' +
      'headers, a parsed URL and an AbortSignal (~40 µs of a ~600 µs connect), although the app only reads a few ' +
      'headers and the URL. The same module already has the lazy request that ordinary requests get (URL string, ' +
      'Headers and the undici Request made only when asked for): use it for upgrades too. Same errors: a bad ' +
      'target or URL throws RequestError (400), a missing Host falls back to "localhost" as before.',
    edits: [
      [
        'const response = await fetchCallback(createUpgradeRequest(request), env);',
        'const response = await fetchCallback(newRequest(request, "localhost"), env);',
      ],
    ],
  },
]

/** Applies one patch to a file's text; throws, naming the patch, when an edit does not match exactly once. */
export function applyPatch(patch, text) {
  for (const [find, replace] of patch.edits) {
    const at = text.indexOf(find)
    if (at < 0 || text.indexOf(find, at + 1) >= 0) {
      throw new Error(`patch of ${patch.module}/${patch.file} no longer applies (${at < 0 ? 'not found' : 'found twice'}): ${find.trim().slice(0, 60)}…`)
    }
    text = text.slice(0, at) + replace + text.slice(at + find.length)
  }
  return text
}

/** The package.json version of the module a resolved file belongs to. */
function versionOf(path, module) {
  const root = path.slice(0, path.lastIndexOf(`/node_modules/${module}/`) + `/node_modules/${module}/`.length)
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
}

/** The esbuild plugin; a build that bundles none of the patched files fails too (the patch would be dead). */
export function patchDependencies() {
  return {
    name: 'livefeed-patches',
    setup(build) {
      const applied = new Set()
      // One onLoad per file (esbuild takes the first that answers), applying that file's patches in order.
      const byFile = new Map()
      for (const patch of PATCHES) {
        const suffix = `/node_modules/${patch.module}/${patch.file}`
        byFile.set(suffix, [...(byFile.get(suffix) ?? []), patch])
      }
      for (const [suffix, patches] of byFile) {
        const filter = new RegExp(`${suffix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`)
        build.onLoad({ filter }, (args) => {
          let text = readFileSync(args.path, 'utf8')
          for (const patch of patches) {
            const found = versionOf(args.path, patch.module)
            if (found !== patch.version) throw new Error(`patch of ${patch.module} is for ${patch.version}, found ${found}: ${patch.why}`)
            text = applyPatch(patch, text)
            applied.add(patch)
          }
          return { contents: text, loader: 'js', resolveDir: dirname(args.path) }
        })
      }
      build.onEnd((result) => {
        if (result.errors.length > 0) return
        const missed = PATCHES.filter((p) => !applied.has(p))
        if (missed.length > 0) return { errors: missed.map((p) => ({ text: `patch of ${p.module}/${p.file} was not used: is it still bundled?` })) }
      })
    },
  }
}

// npm run demo: the server (the built bundle) and the simulated publisher, one command; and links to the game
// chat (/chat.html) for two demo users, each with a token minted for it (npm run token).
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

const port = process.env.PORT ?? '8080'
// A secret of this run unless one is set: the demo's tokens are signed with it.
const env = {
  ...process.env,
  PORT: port,
  TOKEN_SECRET: process.env.TOKEN_SECRET || randomBytes(32).toString('hex'),
  EPHEMERAL_TOPICS: process.env.EPHEMERAL_TOPICS || 'typing/**',
}
/** A demo user's token: reads anything public, publishes chat messages and typing under its own name only. */
function token(sub) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', sub, '--publish', 'chat/*/*/{sub},typing/*/*/{sub}', '--ttl', '12h'], {
    env,
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`npm run token failed: ${r.stderr}`)
  return r.stdout.trim()
}
// `npm start`'s Node flags (package.json's start), so the demo's server runs as npm start runs it.
const flags = JSON.parse(readFileSync('package.json', 'utf8'))
  .scripts.start.split(/\s+/)
  .filter((a) => a.startsWith('--'))
const server = spawn(process.execPath, [...flags, 'dist/server.mjs'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
let started = false
server.stdout.on('data', (d) => {
  process.stdout.write(d)
  if (started || !String(d).includes('"msg":"listening"')) return
  started = true
  const chat = (sub) => `http://localhost:${port}/chat.html?room=nba/lal-bos#token=${token(sub)}`
  console.log(`\n  livefeed demo: open http://localhost:${port}/  (Ctrl-C to stop)`)
  console.log(`  game chat as alice: ${chat('alice')}`)
  console.log(`  game chat as bob:   ${chat('bob')}\n`)
  const sim = spawn(process.execPath, ['--import', 'tsx', 'src/demo/simulator.ts', '--url', `http://127.0.0.1:${port}`], { stdio: 'inherit', env })
  const stop = () => {
    sim.kill('SIGTERM')
    server.kill('SIGTERM')
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
})
server.on('exit', (code) => process.exit(code ?? 0))

// npm run demo: the server (the built bundle) and the simulated publisher, one command.
import { spawn } from 'node:child_process'

const port = process.env.PORT ?? '8080'
const server = spawn(process.execPath, ['dist/server.mjs'], { env: { ...process.env, PORT: port }, stdio: ['ignore', 'pipe', 'inherit'] })
let started = false
server.stdout.on('data', (d) => {
  process.stdout.write(d)
  if (started || !String(d).includes('"msg":"listening"')) return
  started = true
  console.log(`\n  livefeed demo: open http://localhost:${port}/  (Ctrl-C to stop)\n`)
  const sim = spawn(process.execPath, ['--import', 'tsx', 'src/demo/simulator.ts', '--url', `http://127.0.0.1:${port}`], { stdio: 'inherit', env: process.env })
  const stop = () => {
    sim.kill('SIGTERM')
    server.kill('SIGTERM')
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
})
server.on('exit', (code) => process.exit(code ?? 0))

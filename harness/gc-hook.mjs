// Preloaded into the Node servers by bench/fanout.ts (`node --expose-gc --import ./harness/gc-hook.mjs`): on
// SIGUSR2 it collects garbage and reports process.memoryUsage() on stderr, so heap per socket is read after gc.
process.on('SIGUSR2', () => {
  globalThis.gc()
  globalThis.gc()
  process.stderr.write(`${JSON.stringify(process.memoryUsage())}\n`)
})

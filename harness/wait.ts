/**
 * Resolves when `check` returns a value other than undefined; rejects after `timeoutMs`, saying what it waited for.
 * `what` may be a function, so the message tells the state at the timeout, not at the start.
 */
export async function until<T>(what: string | (() => string), check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * @module
 * The SDK's access tokens: fetched from the application's `getToken`,
 * refreshed a tenth of their life before they expire (read from the JWT's
 * `exp`, without verifying: the server verifies).
 */

export class TokenKeeper {
  /** The current token, once one was fetched. */
  token: string | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor(
    private readonly get: () => string | Promise<string>,
    /** Called with each refreshed token (not the ones `fetch` resolves with). */
    private readonly refreshed: (token: string) => void,
  ) {}

  /** A fresh token now, kept and planned for refresh. */
  async fetch(): Promise<string> {
    const token = await this.get()
    this.keep(token)
    return token
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  private keep(token: string): void {
    this.token = token
    clearTimeout(this.timer)
    const exp = tokenExpiry(token)
    if (exp === undefined || this.stopped) return
    const lifetime = exp - Date.now()
    // A tenth of its life before expiry, at least a second and at most a minute ahead.
    const ahead = Math.min(60_000, Math.max(1000, lifetime / 10))
    this.timer = setTimeout(
      () => {
        // On failure the connection ends when the old token does, and reconnecting asks again.
        this.fetch().then(
          (t) => !this.stopped && this.refreshed(t),
          () => {},
        )
      },
      Math.max(0, lifetime - ahead),
    )
  }
}

/** A JWT's `exp` in ms, read from its payload without verifying; undefined when there is none. */
export function tokenExpiry(token: string): number | undefined {
  try {
    const payload = token.split('.')[1]
    if (payload === undefined) return undefined
    const json: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))
    const exp = typeof json === 'object' && json !== null && 'exp' in json ? json.exp : undefined
    return typeof exp === 'number' ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

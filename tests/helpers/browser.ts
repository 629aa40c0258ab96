import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { type RuntimeName, type Server, startServer } from '../../harness/server.ts'

/** Debian's chromium package; `npx playwright install` cannot download a browser here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/lib/chromium/chromium'].find((p) => existsSync(p))

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('Chromium is missing: run `apt-get install -y chromium` (scripts/test-setup.mjs does it as root)')
  return chromium.launch({
    executablePath: CHROMIUM,
    // No sandbox as root in a container; no background traffic on a closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** Records every Content-Security-Policy violation the page causes; the function returns them so far. */
export async function watchCsp(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = []
    Object.assign(window, { cspViolations: seen })
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`))
  })
  return () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)
}

/** What a browser suite's tests get: a real server and Debian's Chromium. */
export interface BrowserContext {
  s: Server
  browser: Browser
}

/** Starts the server and Chromium before a suite's tests and stops both after (a uvu suite's before/after). */
export function withBrowser(
  test: { before(fn: (ctx: BrowserContext) => Promise<void>): void; after(fn: (ctx: BrowserContext) => Promise<void>): void },
  runtime: RuntimeName,
  env: Record<string, string> = {},
): void {
  test.before(async (ctx) => {
    ctx.browser = await launchChromium()
    ctx.s = await startServer(runtime, env)
  })
  test.after(async ({ s, browser }) => {
    await browser.close()
    await s.stop()
  })
}

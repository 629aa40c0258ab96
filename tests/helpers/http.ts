import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

export type { FeedEvent } from '../../src/protocol/events.ts'

export interface Reply<T = any> {
  status: number
  headers: Headers
  body: T
}

export async function request<T = any>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<Reply<T>> {
  const headers = new Headers(init.headers)
  let body = init.body
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(init.json)
  }
  const res = await fetch(url, { ...init, headers, body })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed as T }
}

export const publish = (base: string, json: unknown, headers: Record<string, string> = {}) => request(`${base}/api/events`, { method: 'POST', json, headers })

/** Publishes through the real curl binary; returns status and parsed body. */
export async function curl(args: string[]): Promise<{ status: number; body: any; raw: string }> {
  const { stdout } = await promisify(execFile)('curl', ['-sS', '-w', '\n%{http_code}', ...args])
  const i = stdout.lastIndexOf('\n')
  const raw = stdout.slice(0, i)
  let body: unknown = raw
  try {
    body = JSON.parse(raw)
  } catch {}
  return { status: Number(stdout.slice(i + 1)), body, raw }
}

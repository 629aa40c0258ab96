/**
 * @module
 * Routes that document themselves: each route is registered on the Hono app
 * together with what it takes and answers, as protocol schemas, so
 * `GET /openapi.json` is generated from the routes the app really serves.
 */
import type { Context, Handler, Hono, MiddlewareHandler } from 'hono'
import type * as v from 'valibot'
import type { Config } from '../config.ts'
import type { Feed } from '../core/feed.ts'
import type { Slot } from '../core/limits.ts'
import type { Wire } from '../core/wire.ts'
import type { ErrorCode } from '../protocol/errors.ts'
import type { EventInput } from '../protocol/events.ts'
import type { Vars } from './auth.ts'
import type { Tokens } from './tokens.ts'

export interface Param {
  schema: v.GenericSchema
  required?: boolean
}

export interface RouteDoc {
  summary: string
  description?: string
  tags: string[]
  query?: Record<string, Param>
  headers?: Record<string, Param>
  /** A JSON request body. */
  body?: v.GenericSchema
  /** Answers other than errors, by status: JSON by `schema`, or another media type. */
  responses: Record<number, { description: string; schema?: v.GenericSchema; mediaType?: string; headers?: Record<string, string> }>
  /** The error codes this route may answer, each with its status from the protocol. */
  errors?: ErrorCode[]
}

export interface RouteSpec extends RouteDoc {
  method: 'GET' | 'POST'
  path: string
}

/** Guards, then the handler: at least one. */
type Handlers = [MiddlewareHandler | Handler, ...(MiddlewareHandler | Handler)[]]

/** The Hono app plus the list of what it serves. */
export class Api {
  readonly routes: RouteSpec[] = []
  constructor(readonly app: Hono<Vars>) {}

  get(path: string, doc: RouteDoc, ...handlers: Handlers): void {
    this.add('GET', path, doc, handlers)
  }
  post(path: string, doc: RouteDoc, ...handlers: Handlers): void {
    this.add('POST', path, doc, handlers)
  }

  /** Methods served on a path, for a 405's `Allow` header. */
  methodsOf(path: string): string[] {
    return this.routes.filter((r) => r.path === path).map((r) => r.method)
  }

  private add(method: RouteSpec['method'], path: string, doc: RouteDoc, [first, ...rest]: Handlers): void {
    this.routes.push({ method, path, ...doc })
    this.app.on(method, path, first, ...rest)
  }
}

/** What an extension (a transport, the dashboard's publishers) gets to mount its routes with. */
export interface MountContext {
  api: Api
  feed: Feed
  config: Config
  /** Verifies the tokens requests carry (`?token=` or `Authorization: Bearer`). */
  tokens: Tokens
  /** 403 forbidden_origin for a page on an origin ALLOWED_ORIGINS does not list (requests without Origin pass). */
  checkOrigin(c: Context): void
  /**
   * Admits a long-lived connection (WebSocket, SSE stream, held poll): not
   * while draining, and within MAX_CONNECTIONS_PER_IP (429). Returns the
   * address's slot, for `Connection.hold`.
   */
  admit(c: Context): Slot
  /** The client's address (behind TRUST_PROXY proxies, the one they appended). */
  clientAddress(c: Context): string
  /** The connection under a response (SSE, held polls), where the runtime can tell of it. */
  wire(c: Context): Wire | undefined
  /**
   * Registers a publish route with everything `POST /api/events` has: auth,
   * body limit, JSON and schema checks, idempotency, one atomic batch.
   */
  publisher<S extends v.GenericSchema>(
    path: string,
    doc: { summary: string; description?: string; body: S },
    toEvents: (body: v.InferOutput<S>) => EventInput[],
  ): void
}

/** An extension: mounts routes beside the core ones without the core knowing them. */
export type Mount = (ctx: MountContext) => void

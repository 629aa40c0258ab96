/**
 * @module
 * `GET /openapi.json`: an OpenAPI 3.1 document generated from the routes the
 * app registered (`Api.routes`) and the protocol's valibot schemas, converted
 * by `@valibot/to-json-schema`. WebSocket frames and SSE events are JSON
 * Schemas in `components.schemas`. Nothing here is written by hand but prose.
 */
import { type ConversionConfig, type JsonSchema, toJsonSchema, toJsonSchemaDefs } from '@valibot/to-json-schema'
import type * as v from 'valibot'
import type { Limits } from '../config.ts'
import { ERROR_STATUS, type ErrorCode, errorBody, errorDetail } from '../protocol/errors.ts'
import { cursorSchema, eventInput, feedEvent, patternSchema, snapshotSchema, topicSchema } from '../protocol/events.ts'
import { eventsAnswer, readAnswer, resetAnswer, snapshotAnswer } from '../protocol/http.ts'
import { occupancySchema, presenceAnswer, presenceSchema } from '../protocol/presence.ts'
import { SSE_EVENTS } from '../protocol/sse.ts'
import { clientFrame, serverFrame } from '../protocol/ws.ts'
import type { RouteSpec } from './api.ts'

/** Named schemas: where one appears inside another, the document refers to it. */
const NAMED: Record<string, v.GenericSchema> = {
  Cursor: cursorSchema,
  Topic: topicSchema,
  Pattern: patternSchema,
  FeedEvent: feedEvent,
  EventInput: eventInput,
  Snapshot: snapshotSchema,
  EventsAnswer: eventsAnswer,
  ResetAnswer: resetAnswer,
  SnapshotAnswer: snapshotAnswer,
  ReadAnswer: readAnswer,
  ErrorDetail: errorDetail,
  ErrorBody: errorBody,
  Occupancy: occupancySchema,
  Presence: presenceSchema,
  PresenceAnswer: presenceAnswer,
  ClientFrame: clientFrame,
  ServerFrame: serverFrame,
}
const nameOf = (schema: v.GenericSchema) => Object.entries(NAMED).find(([, s]) => s === schema)?.[0]

/** Each SSE event name and the component its data is: the named one when there is one. */
export const SSE_COMPONENTS: Record<string, string> = Object.fromEntries(
  Object.entries(SSE_EVENTS).map(([event, schema]) => [event, nameOf(schema) ?? `SseEvent_${event.replace('-', '_')}`]),
)

const COMPONENTS: Record<string, v.GenericSchema> = {
  ...NAMED,
  ...Object.fromEntries(Object.entries(SSE_EVENTS).flatMap(([event, schema]) => (nameOf(schema) ? [] : [[SSE_COMPONENTS[event]!, schema]]))),
}

const conversion: ConversionConfig = {
  target: 'draft-2020-12',
  definitions: COMPONENTS,
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  // `custom` is "any JSON value" (events' data): anything, in JSON Schema.
  overrideSchema: ({ valibotSchema }) => (valibotSchema.type === 'custom' ? { description: 'Any JSON value.' } : undefined),
  // JSON numbers are always finite: the check adds nothing a JSON Schema could say.
  overrideAction: ({ valibotAction, jsonSchema }) => (valibotAction.type === 'finite' ? jsonSchema : undefined),
}

const { definitions: _, ...defsConversion } = conversion

function schemaOf(schema: v.GenericSchema): JsonSchema {
  const { $schema: _, $defs: __, ...rest } = toJsonSchema(schema, conversion)
  return rest
}

/** `/api/events/{x}` style is not used; Hono's `:param` would become `{param}` here. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}')

function errorResponses(codes: readonly ErrorCode[]): Record<string, object> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of [...codes, 'internal' as const]) {
    const status = ERROR_STATUS[code]
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: `Error: ${list.map((c) => `\`${c}\``).join(', ')}`,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
      },
    ]),
  )
}

function operation(route: RouteSpec): object {
  const params = [
    ...Object.entries(route.query ?? {}).map(([name, p]) => ({ name, in: 'query', required: p.required ?? false, schema: schemaOf(p.schema) })),
    ...Object.entries(route.headers ?? {}).map(([name, p]) => ({ name, in: 'header', required: p.required ?? false, schema: schemaOf(p.schema) })),
  ]
  const responses = Object.fromEntries(
    Object.entries(route.responses).map(([status, r]) => [
      status,
      {
        description: r.description,
        ...(r.schema ? { content: { 'application/json': { schema: schemaOf(r.schema) } } } : r.mediaType ? { content: { [r.mediaType]: {} } } : {}),
        ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) } : {}),
      },
    ]),
  )
  return {
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: route.tags,
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    ...(params.length ? { parameters: params } : {}),
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body) } } } } : {}),
    responses: { ...responses, ...errorResponses(route.errors ?? []) },
  }
}

/** The whole document for these routes. */
export function openApiDocument(routes: readonly RouteSpec[], limits: Limits): object {
  const paths: Record<string, Record<string, object>> = {}
  for (const r of routes) (paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation(r)
  return {
    openapi: '3.1.0',
    info: {
      title: 'livefeed',
      version: '1',
      description: `Publish JSON events over HTTP; receive them live over WebSocket (/ws), Server-Sent Events (/sse) or long polling (/poll), resuming from a cursor. Limits on this server: ${limits.maxBatch} events per batch, ${limits.maxEventBytes} bytes of data per event, ${limits.maxBodyBytes} bytes per request, ${limits.maxPatterns} patterns per request or connection, ${limits.readLimit} events per read.`,
    },
    paths,
    components: {
      schemas: toJsonSchemaDefs(COMPONENTS, defsConversion),
    },
  }
}

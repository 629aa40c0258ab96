/**
 * @module
 * The process' logger, one for Node, its WORKERS and Deno: pino's JSON lines, or, on App Engine
 * (`LOG_FORMAT=gcp`, the default where `GAE_SERVICE` is set), the fields Cloud Logging reads from a
 * line (`severity`, `message`, an RFC 3339 `time`, and the request's trace), so that a line's level shows
 * as its severity there instead of "default".
 */
import { type Logger, pino } from 'pino'
import type { Config } from '../config.ts'

/** pino's level labels as Cloud Logging's LogSeverity names. */
const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' }

/**
 * Lines are written as they are logged, not queued. pino's default stdout writer is asynchronous, and an exit while
 * one of its writes was under way wrote the queued lines at once, ahead of it (a shutdown's `stopped` landed before
 * its `draining`, one exit in ten here); its queue also grows without bound while stdout does not drain. What this
 * server logs at `info` is a few lines per outage or shutdown; `debug` writes a line per client mistake.
 */
const stdout = () => pino.destination({ dest: 1, sync: true })

/** The logger of this process; `base` fields go on every line (runtime, worker, pid). */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat' | 'gcpProject'>, base: Record<string, unknown>): Logger {
  if (config.logFormat === 'json') return pino({ level: config.logLevel, base }, stdout())
  const project = config.gcpProject
  return pino(
    {
      level: config.logLevel,
      base,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
        // A request's trace (from X-Cloud-Trace-Context) under the key that joins the line to the request's
        // entry in Cloud Logging; without the project it stays a plain field.
        log: (fields) => {
          const { trace, ...rest } = fields
          if (typeof trace !== 'string' || project === undefined) return fields
          return { ...rest, 'logging.googleapis.com/trace': `projects/${project}/traces/${trace}` }
        },
      },
    },
    stdout(),
  )
}

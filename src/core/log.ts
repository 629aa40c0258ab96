/**
 * @module
 * The logger the core writes to: pino's call shape, so the core imports no logger.
 */
/** The slice of a structured logger the core uses (pino's call shape). */
export interface Log {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} }

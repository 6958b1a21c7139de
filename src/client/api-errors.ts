// What to do about a failed API call. Transient failures go away by themselves (server
// restarting, network down, overloaded) and are retried; permanent ones will fail the same
// way every time (the server refused this request or this key) and are not; for the rest the
// caller decides how often to try (src/client/report-queue.ts gives up after a few).
import { ApiError, Code, codeName } from './grpc-call.js'

export type ApiErrorKind = 'transient' | 'permanent' | 'unknown'

export interface ClassifiedError {
  kind: ApiErrorKind
  /** The gRPC code's name, e.g. 'Unavailable', or the Node.js error code, e.g. 'ECONNREFUSED'. */
  code: string
  message: string
}

const TRANSIENT_CODES = new Set<Code>([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  // The server's answer to a transaction that lost to a concurrent one.
  Code.Aborted,
  // Our own signal (shutdown, per-call timeout from a caller's signal): the request was not refused.
  Code.Canceled,
])

const PERMANENT_CODES = new Set<Code>([
  Code.InvalidArgument,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.NotFound,
  Code.AlreadyExists,
  Code.OutOfRange,
  Code.Unimplemented,
])

/** Node.js system errors of the network: the request may never have reached the server. */
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_ERROR',
])

export function classifyApiError(err: unknown): ClassifiedError {
  if (err instanceof ApiError) {
    const code = codeName(err.code)
    if (TRANSIENT_CODES.has(err.code)) return { kind: 'transient', code, message: err.rawMessage }
    if (PERMANENT_CODES.has(err.code)) return { kind: 'permanent', code, message: err.rawMessage }
    return { kind: 'unknown', code, message: err.rawMessage }
  }
  const message = err instanceof Error ? err.message : String(err)
  const errno = networkErrno(err)
  if (errno !== undefined) return { kind: 'transient', code: errno, message }
  return { kind: 'unknown', code: err instanceof Error ? err.name : typeof err, message }
}

/** The first network errno in the error's cause chain. */
function networkErrno(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string' && NETWORK_ERRNOS.has(code)) return code
  }
  return undefined
}

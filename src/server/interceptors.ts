import { type DescMessage, toBinary } from '@bufbuild/protobuf'
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect'
import { DatabaseUnavailableError, TransactionConflictError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { LIMITS } from '../lib/report-limits.js'
import type { ServerMetrics } from './metrics.js'

/**
 * Rejects a request message over LIMITS.maxMessageBytes with INVALID_ARGUMENT. Connect's own
 * readMaxBytes stays higher as a hard memory cap (it answers RESOURCE_EXHAUSTED); this check
 * gives honest clients that send too much a precise, non-retryable answer.
 */
export function messageSizeLimit(maxBytes: number = LIMITS.maxMessageBytes): Interceptor {
  return (next) => async (req) => {
    const size = req.stream ? 0 : encodedSize(req.method.input as DescMessage, req.message)
    if (size > maxBytes) throw messageTooLarge(size, maxBytes)
    return next(req)
  }
}

/** The answer to a request message over LIMITS.maxMessageBytes. */
export function messageTooLarge(size: number, maxBytes: number): ConnectError {
  return new ConnectError(
    `request: message is ${size} bytes, more than the limit of ${maxBytes}`,
    Code.InvalidArgument,
  )
}

/**
 * The message's size on the wire. protobuf-es refuses to encode a message whose required
 * fields are missing; such a message is rejected by the handler's own check, so it counts
 * as 0 here.
 */
function encodedSize(schema: DescMessage, message: Parameters<typeof toBinary>[1]): number {
  try {
    return toBinary(schema, message).length
  } catch {
    return 0
  }
}

/**
 * Maps failures to gRPC codes and records every RPC: ConnectErrors pass through, an
 * unreachable database becomes UNAVAILABLE and a transaction that kept conflicting with
 * concurrent ones ABORTED (clients retry both), anything else is logged and answered INTERNAL
 * without internals.
 */
export function errorsAndMetrics(metrics: ServerMetrics, log: Logger): Interceptor {
  return (next) => (req) => recordCall(metrics, log, req.method.name, () => next(req))
}

/** What errorsAndMetrics does around one call, for the path that serves gRPC without Connect (grpc-unary.ts). */
export async function recordCall<T>(
  metrics: ServerMetrics,
  log: Logger,
  method: string,
  call: () => Promise<T>,
): Promise<T> {
  const stopTimer = metrics.rpcDuration.startTimer({ method })
  try {
    const res = await call()
    metrics.rpcs.inc({ method, code: 'OK' })
    return res
  } catch (err) {
    const mapped = mapError(err, log, method)
    metrics.rpcs.inc({ method, code: Code[mapped.code] })
    if (mapped.code !== Code.Internal)
      log.debug({ method, code: Code[mapped.code], reason: mapped.rawMessage }, 'rejected request')
    throw mapped
  } finally {
    stopTimer()
  }
}

function mapError(err: unknown, log: Logger, method: string): ConnectError {
  if (err instanceof ConnectError) return err
  if (err instanceof DatabaseUnavailableError) {
    log.warn({ method, err: err.message }, 'database unavailable')
    return new ConnectError('database unavailable; retry later', Code.Unavailable)
  }
  if (err instanceof TransactionConflictError) {
    log.warn({ method, err: err.message }, 'database transaction conflicts')
    return new ConnectError('concurrent requests conflicted in the database; retry', Code.Aborted)
  }
  log.error({ method, err }, 'unexpected error')
  return new ConnectError('internal error', Code.Internal)
}

// Unary gRPC calls over Node's own HTTP/2 client (docs/PROTOCOL.md, "Wire API"). The client
// used Connect's Node transport for its three calls; that transport and its framework cost
// the long-running client about 7 MiB of memory (docs/FOOTPRINT.md), for what is a framed
// POST with a deadline and a status in the trailers. The server keeps Connect.
import http2 from 'node:http2'
import { grpcFrame } from '../lib/grpc-frame.js'

/** gRPC status codes: the numbers are the wire's `grpc-status`, the names Connect's. */
export const Code = {
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const
export type Code = (typeof Code)[keyof typeof Code]

const CODE_NAMES = new Map<number, string>(Object.entries(Code).map(([name, code]) => [code, name]))

/** The name of a gRPC status code ('NotFound'), or its number for one outside the spec. */
export function codeName(code: number): string {
  return CODE_NAMES.get(code) ?? String(code)
}

/** A failed call: the server's status, or what the client made of a failure on the way. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    /** The server's message (`grpc-message`) or the local reason, without the code. */
    readonly rawMessage: string,
    readonly code: Code,
    options?: { cause?: unknown },
  ) {
    super(`[${codeName(code)}] ${rawMessage}`, options)
  }
}

/** The largest response accepted, gRPC's usual default: a server cannot make us buffer more. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024

/**
 * A session left without calls this long is closed and a new one is opened for the next call.
 * The client asks every 30 s while it waits, so this happens only after long rounds, and a
 * session that a NAT or the server dropped silently meanwhile is never waited on.
 */
export const SESSION_IDLE_MS = 60_000

export interface CallOptions {
  /** The call's deadline, sent as `grpc-timeout` and enforced here. */
  timeoutMs: number
  signal?: AbortSignal | undefined
}

/**
 * One HTTP/2 session to a gRPC server, opened when a call needs it and again after it ended,
 * the server sent GOAWAY, it sat idle for SESSION_IDLE_MS, or a call on it missed its deadline.
 * An idle session does not keep the process alive.
 */
export class GrpcChannel {
  private readonly authority: string
  private session: http2.ClientHttp2Session | undefined
  private active = 0
  private idleSince = 0
  private closed = false
  /** How to fail each call in flight, for close(). */
  private readonly inFlight = new Set<(error: ApiError) => void>()

  /**
   * @param baseUrl `http://host:port` or `https://host:port`
   * @param tls TLS options for https: (certificate checking)
   */
  constructor(
    private readonly baseUrl: string,
    private readonly tls: { rejectUnauthorized: boolean },
  ) {
    // Node derives the authority from the host without an IPv6 address's brackets, which a
    // server that builds a URL from it cannot parse: send the URL's own.
    this.authority = new URL(baseUrl).host
  }

  /** Sends one framed request message to `path`; resolves to the response message's bytes. */
  call(path: string, request: Uint8Array, options: CallOptions): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new ApiError('the API client was closed', Code.Canceled))
    if (options.signal?.aborted)
      return Promise.reject(
        new ApiError('the call was canceled', Code.Canceled, { cause: options.signal.reason }),
      )
    const session = this.openSession()
    let stream: http2.ClientHttp2Stream
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': path,
        ':authority': this.authority,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(options.timeoutMs))}m`,
      })
    } catch (err) {
      // The session was closing between openSession and request: the call never left.
      this.forget(session)
      return Promise.reject(toApiError(err))
    }
    this.streamStarted(session)
    return new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Buffer[] = []
      let received = 0
      let httpStatus: number | undefined
      let grpcStatus: string | undefined
      let grpcMessage: string | undefined
      let settled = false
      const settle = () => {
        settled = true
        this.inFlight.delete(fail)
        clearTimeout(deadline)
        options.signal?.removeEventListener('abort', onAbort)
      }
      // The caller hears at once: a stream still waiting for its connection closes only once
      // the session connects or fails, which can take the kernel's whole connect timeout.
      const fail = (error: ApiError) => {
        if (!settled) {
          settle()
          reject(error)
        }
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
      }
      const deadline = setTimeout(() => {
        fail(new ApiError(`no answer within ${options.timeoutMs} ms`, Code.DeadlineExceeded))
        // Nothing came back in time: the session may be dead (a NAT dropped it). Start afresh.
        this.forget(session, true)
      }, options.timeoutMs)
      const onAbort = () =>
        fail(new ApiError('the call was canceled', Code.Canceled, { cause: options.signal?.reason }))
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.inFlight.add(fail)

      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status'])
        // A trailers-only answer (an error before any message) has its status in the headers.
        grpcStatus = headerText(headers['grpc-status']) ?? grpcStatus
        grpcMessage = headerText(headers['grpc-message']) ?? grpcMessage
      })
      stream.on('trailers', (trailers) => {
        grpcStatus = headerText(trailers['grpc-status']) ?? grpcStatus
        grpcMessage = headerText(trailers['grpc-message']) ?? grpcMessage
      })
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > MAX_RESPONSE_BYTES)
          fail(new ApiError(`response larger than ${MAX_RESPONSE_BYTES} bytes`, Code.ResourceExhausted))
        else chunks.push(chunk)
      })
      stream.on('error', (err) => fail(streamError(err, stream.rstCode)))
      stream.on('close', () => {
        this.streamEnded(session)
        if (settled) return
        settle()
        try {
          resolve(
            answer(httpStatus, grpcStatus, grpcMessage, stream.rstCode, Buffer.concat(chunks, received)),
          )
        } catch (err) {
          reject(err)
        }
      })
      stream.end(grpcFrame(request))
    })
  }

  /** Ends the session; calls in flight fail with CANCELED. */
  close(): void {
    this.closed = true
    for (const fail of this.inFlight) fail(new ApiError('the API client was closed', Code.Canceled))
    const session = this.session
    this.session = undefined
    session?.destroy()
  }

  private openSession(): http2.ClientHttp2Session {
    const current = this.session
    if (current !== undefined && !current.closed && !current.destroyed) {
      if (this.active > 0 || Date.now() - this.idleSince < SESSION_IDLE_MS) return current
      this.forget(current)
    }
    const session = http2.connect(this.baseUrl, this.baseUrl.startsWith('https:') ? this.tls : {})
    // A session's failures reach its streams, which report them to their callers; this
    // listener only keeps an error emitted after the last stream from ending the process.
    session.on('error', () => undefined)
    // A server going away (a restart) takes no new streams on this session.
    session.once('goaway', () => this.forget(session))
    session.once('close', () => {
      if (this.session === session) this.session = undefined
    })
    session.unref()
    this.session = session
    this.active = 0
    this.idleSince = Date.now()
    return session
  }

  /** No new calls go to `session`; with `destroy` the calls still on it fail too. */
  private forget(session: http2.ClientHttp2Session, destroy = false): void {
    if (this.session === session) this.session = undefined
    if (destroy) session.destroy()
    else if (!session.closed) session.close()
  }

  private streamStarted(session: http2.ClientHttp2Session): void {
    if (session !== this.session) return
    if (this.active++ === 0) session.ref()
  }

  private streamEnded(session: http2.ClientHttp2Session): void {
    if (session !== this.session) return
    if (--this.active === 0) {
      this.idleSince = Date.now()
      session.unref()
    }
  }
}

/** What a finished stream amounts to: the response message, or the ApiError it carries. */
function answer(
  httpStatus: number | undefined,
  grpcStatus: string | undefined,
  grpcMessage: string | undefined,
  rstCode: number,
  body: Buffer,
): Uint8Array {
  if (grpcStatus === undefined) {
    if (httpStatus !== undefined && httpStatus !== 200)
      throw new ApiError(`HTTP status ${httpStatus} without a gRPC status`, httpStatusCode(httpStatus))
    if (rstCode !== http2.constants.NGHTTP2_NO_ERROR)
      throw new ApiError(`stream reset by the server (HTTP/2 error ${rstCode})`, resetCode(rstCode))
    throw new ApiError('the answer has no gRPC status', Code.Internal)
  }
  const status = Number(grpcStatus)
  if (status !== 0) {
    const code = Number.isInteger(status) && CODE_NAMES.has(status) ? (status as Code) : Code.Unknown
    throw new ApiError(decodeMessage(grpcMessage ?? ''), code)
  }
  if (body.length < 5) throw new ApiError('OK without a response message', Code.Internal)
  if (body[0] !== 0) throw new ApiError('compressed response, none was asked for', Code.Internal)
  const length = body.readUInt32BE(1)
  if (body.length !== 5 + length)
    throw new ApiError(`response frame of ${length} bytes in ${body.length - 5}`, Code.Internal)
  return body.subarray(5)
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** grpc-message is percent-encoded; a malformed one is shown as sent. */
function decodeMessage(message: string): string {
  try {
    return decodeURIComponent(message)
  } catch {
    return message
  }
}

/** The gRPC spec's mapping of an HTTP status that came without a gRPC status. */
function httpStatusCode(status: number): Code {
  if (status === 400) return Code.Internal
  if (status === 401) return Code.Unauthenticated
  if (status === 403) return Code.PermissionDenied
  if (status === 404) return Code.Unimplemented
  if (status === 429 || status === 502 || status === 503 || status === 504) return Code.Unavailable
  return Code.Unknown
}

/** The gRPC spec's mapping of an HTTP/2 stream reset (RST_STREAM) without a status. */
function resetCode(rstCode: number): Code {
  const c = http2.constants
  if (rstCode === c.NGHTTP2_REFUSED_STREAM) return Code.Unavailable
  if (rstCode === c.NGHTTP2_CANCEL) return Code.Canceled
  if (rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM) return Code.ResourceExhausted
  if (rstCode === c.NGHTTP2_INADEQUATE_SECURITY) return Code.PermissionDenied
  return Code.Internal
}

/** A stream's 'error': the server's reset mapped as the gRPC spec says, else toApiError. */
function streamError(err: Error, rstCode: number | undefined): ApiError {
  if ((err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_ERROR' && rstCode !== undefined)
    return new ApiError(err.message, resetCode(rstCode), { cause: err })
  return toApiError(err)
}

/**
 * A failure of the connection or the stream: UNAVAILABLE, the Node.js error kept as its cause
 * (api-errors.ts reads its errno). A stream still waiting for its session carries the
 * session's failure as the cause of ERR_HTTP2_STREAM_CANCEL; that is the one to show.
 */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const shown =
    err instanceof Error &&
    (err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_CANCEL' &&
    err.cause instanceof Error
      ? err.cause
      : err
  const message = shown instanceof Error ? shown.message : String(shown)
  return new ApiError(message, Code.Unavailable, { cause: err })
}

// The typed PunchrService client (docs/PROTOCOL.md, "Wire API"): gRPC over HTTP/2
// (grpc-call.ts), with a deadline on every call.

import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf'
import {
  type GetAddrInfoRequestSchema,
  type GetAddrInfoResponse,
  PunchrService,
  type RegisterRequestSchema,
  type RegisterResponse,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../gen/punchr_pb.js'
import { ConfigError } from '../lib/errors.js'
import { API_TIMEOUTS_MS } from './constants.js'
import { ApiError, Code, GrpcChannel } from './grpc-call.js'

export interface ApiClientOptions {
  /** `host:port` (`[v6]:port` for IPv6), or a full `http(s)://` URL. */
  server: string
  /** Speak TLS to the server. */
  tls: boolean
  /** Accept any server certificate (self-signed test servers). Implies nothing without `tls`. */
  tlsSkipVerify: boolean
  /** Per-call deadlines in milliseconds. */
  timeouts?: Partial<Record<keyof typeof API_TIMEOUTS_MS, number>>
}

export interface ApiClientHooks {
  /** Called after every call that succeeded: the server is reachable and answering. */
  onSuccess?: () => void
}

/** The service's methods as this client calls them: the gRPC path and the message schemas. */
type Method<I extends DescMessage, O extends DescMessage> = { path: string; input: I; output: O }

function method<I extends DescMessage, O extends DescMessage>(m: {
  name: string
  parent: { typeName: string }
  input: I
  output: O
}): Method<I, O> {
  return { path: `/${m.parent.typeName}/${m.name}`, input: m.input, output: m.output }
}

const METHODS = {
  register: method(PunchrService.method.register),
  getAddrInfo: method(PunchrService.method.getAddrInfo),
  trackHolePunch: method(PunchrService.method.trackHolePunch),
}

export class ApiClient {
  readonly baseUrl: string
  private readonly channel: GrpcChannel
  private readonly timeouts: Record<keyof typeof API_TIMEOUTS_MS, number>

  constructor(
    options: ApiClientOptions,
    private readonly hooks: ApiClientHooks = {},
  ) {
    this.baseUrl = serverUrl(options.server, options.tls)
    this.channel = new GrpcChannel(this.baseUrl, { rejectUnauthorized: !options.tlsSkipVerify })
    this.timeouts = { ...API_TIMEOUTS_MS, ...options.timeouts }
  }

  register(
    req: MessageInitShape<typeof RegisterRequestSchema>,
    signal?: AbortSignal,
  ): Promise<RegisterResponse> {
    return this.call(METHODS.register, create(METHODS.register.input, req), this.timeouts.register, signal)
  }

  /** Rejects with NOT_FOUND when the server has no remote for us right now. */
  getAddrInfo(
    req: MessageInitShape<typeof GetAddrInfoRequestSchema>,
    signal?: AbortSignal,
  ): Promise<GetAddrInfoResponse> {
    return this.call(
      METHODS.getAddrInfo,
      create(METHODS.getAddrInfo.input, req),
      this.timeouts.getAddrInfo,
      signal,
    )
  }

  async trackHolePunch(req: TrackHolePunchRequest, signal?: AbortSignal): Promise<void> {
    await this.call(METHODS.trackHolePunch, req, this.timeouts.trackHolePunch, signal)
  }

  /**
   * Sends a stored report. protobuf-es re-encodes the decoded message to the same bytes (fields
   * in number order, nothing dropped, unknown fields kept), so the server sees exactly what was
   * queued and its content hash recognises a resend (ADR 0003).
   */
  trackHolePunchBytes(report: Uint8Array, signal?: AbortSignal): Promise<void> {
    let req: TrackHolePunchRequest
    try {
      req = fromBinary(TrackHolePunchRequestSchema, report)
    } catch (err) {
      // A damaged file will never become a valid report: say so the way the server would.
      const reason = err instanceof Error ? err.message : String(err)
      return Promise.reject(new ApiError(`stored report does not decode: ${reason}`, Code.InvalidArgument))
    }
    return this.trackHolePunch(req, signal)
  }

  /** Ends the HTTP/2 session; calls in flight fail. */
  close(): void {
    this.channel.close()
  }

  private async call<I extends DescMessage, O extends DescMessage>(
    m: Method<I, O>,
    req: MessageShape<I>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<MessageShape<O>> {
    const bytes = await this.channel.call(m.path, toBinary(m.input, req), { timeoutMs, signal })
    let response: MessageShape<O>
    try {
      response = fromBinary(m.output, bytes)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new ApiError(`the server's answer does not decode: ${reason}`, Code.Internal, { cause: err })
    }
    this.hooks.onSuccess?.()
    return response
  }
}

/** `host:port` → `http(s)://host:port`. Throws ConfigError for anything else. */
export function serverUrl(server: string, tls: boolean): string {
  const text = server.trim()
  if (/^https?:\/\//.test(text)) {
    const url = parseUrl(text, server)
    if (tls && url.protocol === 'http:') url.protocol = 'https:'
    return url.origin
  }
  const url = parseUrl(`${tls ? 'https' : 'http'}://${text}`, server)
  if (!/:\d+$/.test(text) || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ConfigError(
      `--server must be host:port (e.g. punchr.example.org:10000), got ${JSON.stringify(server)}`,
    )
  }
  return url.origin
}

function parseUrl(text: string, original: string): URL {
  try {
    return new URL(text)
  } catch {
    throw new ConfigError(
      `--server must be host:port (e.g. punchr.example.org:10000), got ${JSON.stringify(original)}`,
    )
  }
}

// The typed PunchrService client (docs/PROTOCOL.md, "Wire API"): gRPC over HTTP/2 through Connect, with a deadline
// on every call. The HTTP/2 session is ours (not the transport's default one) so that close()
// can end it: an idle session would otherwise keep the process alive for 15 minutes.

import type http2 from 'node:http2'
import { fromBinary, type MessageInitShape } from '@bufbuild/protobuf'
import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport, type GrpcTransportOptions, Http2SessionManager } from '@connectrpc/connect-node'
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

type SessionManager = NonNullable<GrpcTransportOptions['sessionManager']>

export class ApiClient {
  readonly baseUrl: string
  private readonly sessions: Http2SessionManager
  private readonly client: Client<typeof PunchrService>
  private readonly timeouts: Record<keyof typeof API_TIMEOUTS_MS, number>

  constructor(options: ApiClientOptions) {
    this.baseUrl = serverUrl(options.server, options.tls)
    const nodeOptions = this.baseUrl.startsWith('https:')
      ? { rejectUnauthorized: !options.tlsSkipVerify }
      : cleartextAuthority(this.baseUrl)
    // Pings keep a long-idle session honest (a NAT may drop it silently between rounds).
    this.sessions = new Http2SessionManager(
      this.baseUrl,
      { pingIntervalMs: 60_000, pingTimeoutMs: 15_000 },
      nodeOptions,
    )
    this.client = createClient(
      PunchrService,
      createGrpcTransport({ baseUrl: this.baseUrl, sessionManager: guardSessions(this.sessions) }),
    )
    this.timeouts = { ...API_TIMEOUTS_MS, ...options.timeouts }
  }

  register(
    req: MessageInitShape<typeof RegisterRequestSchema>,
    signal?: AbortSignal,
  ): Promise<RegisterResponse> {
    return this.client.register(req, { timeoutMs: this.timeouts.register, signal })
  }

  /** Rejects with NOT_FOUND when the server has no remote for us right now. */
  getAddrInfo(
    req: MessageInitShape<typeof GetAddrInfoRequestSchema>,
    signal?: AbortSignal,
  ): Promise<GetAddrInfoResponse> {
    return this.client.getAddrInfo(req, { timeoutMs: this.timeouts.getAddrInfo, signal })
  }

  async trackHolePunch(req: TrackHolePunchRequest, signal?: AbortSignal): Promise<void> {
    await this.client.trackHolePunch(req, { timeoutMs: this.timeouts.trackHolePunch, signal })
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
      return Promise.reject(
        new ConnectError(`stored report does not decode: ${reason}`, Code.InvalidArgument),
      )
    }
    return this.trackHolePunch(req, signal)
  }

  /** Ends the HTTP/2 session; calls in flight fail. */
  close(): void {
    this.sessions.abort()
  }
}

/**
 * The session manager, with a last-resort 'error' listener on every HTTP/2 session it hands
 * out. connect-node 2.1.2 destroys a session with an error when a GOAWAY arrives while no
 * stream is open (a server restarting), and if the manager has already moved on and removed
 * its own listeners, that error is emitted to nobody and kills the process (seen in
 * test/integration/client-loopback.test.ts). The manager's own handling is unchanged.
 */
function guardSessions(manager: Http2SessionManager): SessionManager {
  const guarded = new WeakSet<http2.Http2Session>()
  return {
    authority: manager.authority,
    async request(method, path, headers, options) {
      const stream = await manager.request(method, path, headers, options)
      const session = stream.session
      if (session !== undefined && !guarded.has(session)) {
        guarded.add(session)
        session.on('error', () => undefined)
      }
      return stream
    },
    notifyResponseByteRead: (stream) => manager.notifyResponseByteRead(stream),
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

/**
 * Node's HTTP/2 client sends an IPv6 server's authority without brackets (`2600:11::1:10000`),
 * which a server that builds a URL from it cannot parse (ours crashed on it: connect-adapter.ts).
 * Over cleartext `servername` is nothing but the host part of that authority, so it gets the
 * brackets there. (Over TLS it is the SNI name, which must not be an IP address.)
 */
function cleartextAuthority(baseUrl: string): { servername?: string } {
  const { hostname } = new URL(baseUrl)
  return hostname.startsWith('[') ? { servername: hostname } : {}
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

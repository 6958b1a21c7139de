// The address volunteers' clients give as `--server`: the host the browser reached the
// dashboard at (the request's Host header) with the server's gRPC port. The header comes from
// the browser, so it is checked to be a host name or IP (and optional port) before it is
// echoed; anything else gives no address (the page then shows a placeholder).

/** A DNS name, an IPv4 address or a bracketed IPv6 address, then an optional port. */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?)(?::\d{1,5})?$/i

/** Hosts that name this machine only: a volunteer elsewhere cannot reach them. */
const LOCAL_HOST = /^(localhost|127(\.\d{1,3}){3}|0\.0\.0\.0|\[::1?\])$/i

export interface GrpcAddress {
  /** host:port for `punchr client --server`. */
  address: string
  /** The host names this machine only (localhost, 127.0.0.1, ::1). */
  local: boolean
}

export function grpcAddressFor(hostHeader: string | undefined, grpcPort: number): GrpcAddress | undefined {
  const host = hostHeader === undefined ? undefined : HOST_HEADER.exec(hostHeader.trim())?.[1]
  const name = host?.toLowerCase()
  // .invalid never resolves (RFC 2606); the server's HTTP adapter puts punchr.invalid in place
  // of a Host it could not parse.
  if (name === undefined || name.endsWith('.invalid')) return undefined
  return { address: `${name}:${grpcPort}`, local: LOCAL_HOST.test(name) }
}

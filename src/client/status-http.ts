// The status page's HTTP side, on the client's loopback metrics server (metrics.ts): `GET /`
// (status-page.ts) and `GET /status.json` (status.ts). Loopback alone does not keep other
// sites out: a web page the volunteer visits can point a name of its own at 127.0.0.1 (DNS
// rebinding) and read the answers as same-origin, and /status.json carries the API key in
// its "My results" link. So every request must name a loopback host in its Host header
// (a rebound name never does), and nothing is cached. Nor does loopback keep out the other
// users of the machine: the key-bearing link goes only to a process of the user the client
// runs as (loopback-peer-uid.ts); anyone else gets the status without it.
import { randomBytes } from 'node:crypto'
import type http from 'node:http'
import { isIP } from 'node:net'
import { isOwnUserPeer } from './loopback-peer-uid.js'
import type { StatusJson } from './status.js'
import { statusPageHtml } from './status-page.js'

/** Gives the current status; called per request. */
export type StatusSource = () => StatusJson

/** Whether a request comes from a process of the user the client runs as; false when unknown. */
export type OwnUserCheck = (req: http.IncomingMessage) => Promise<boolean>

/** By the uid of the request's peer socket (Linux); false elsewhere. */
export const requestFromOwnUser: OwnUserCheck = (req) =>
  isOwnUserPeer(req.socket.remotePort, req.socket.localPort)

/** The status as another user of the machine may see it: without the API key. */
export function withoutApiKey(status: StatusJson): StatusJson {
  return { ...status, myResultsUrl: null }
}

/**
 * True for `localhost`, an address of 127.0.0.0/8 or `[::1]`, each with or without a port.
 * Anything else, a missing header included, is a name someone else may control.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(host.trim())
  if (match === null) return false
  const v6 = match[1]
  if (v6 !== undefined) return isIP(v6) === 6 && normaliseV6(v6) === '::1'
  const name = match[2]!.toLowerCase().replace(/\.$/, '')
  if (name === 'localhost') return true
  return isIP(name) === 4 && name.startsWith('127.')
}

/** `0:0:0:0:0:0:0:1` and `::0001` are `::1` too. */
function normaliseV6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1)
}

/** Refuses a request whose Host header is not loopback; true when it answered. */
export function refuseForeignHost(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (isLoopbackHost(req.headers.host)) return false
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  res.end('forbidden: this page answers only to a loopback host name (localhost, 127.0.0.1, [::1])\n')
  return true
}

/**
 * Answers `/` and `/status.json`; false for any other path (the caller goes on routing).
 * `/status.json` carries `myResultsUrl` only when `ownUser` says the request is our user's.
 */
export function serveStatus(
  path: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: StatusSource,
  ownUser: OwnUserCheck = requestFromOwnUser,
): boolean {
  if (path !== '/' && path !== '/status.json') return false
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
    res.end('method not allowed\n')
    return true
  }
  const common = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  }
  if (path === '/status.json') {
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...common, 'content-type': 'application/json; charset=utf-8' })
      res.end()
      return true
    }
    // Asked while the connection is open: the peer's socket is in the kernel's table now.
    ownUser(req)
      .catch(() => false)
      .then((own) => {
        const snapshot = status()
        res.writeHead(200, { ...common, 'content-type': 'application/json; charset=utf-8' })
        res.end(`${JSON.stringify(own ? snapshot : withoutApiKey(snapshot))}\n`)
      })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        res.end(`${err instanceof Error ? err.message : String(err)}\n`)
      })
    return true
  }
  const nonce = randomBytes(16).toString('base64')
  res.writeHead(200, {
    ...common,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
  })
  res.end(req.method === 'HEAD' ? undefined : statusPageHtml(nonce))
  return true
}

// The dashboard on the server's HTTP port: the page and its assets, and the JSON endpoints.
// The server hands every request it does not serve itself to the handler; the handler
// answers dashboard paths and returns false for the rest.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Queryable } from '../db/database.js'
import { DatabaseUnavailableError } from '../lib/errors.js'
import { logger } from '../lib/logger.js'
import { KeyChecker } from './access.js'
import { ASSETS, assetBytes } from './assets.js'
import { ENDPOINTS } from './endpoints.js'
import { HttpError } from './http-error.js'
import { QueryParams } from './params.js'
import type { ServerFacts } from './server-facts.js'
import { InvalidParameterError } from './time-range.js'

const log = logger('dashboard')

/** Serves a request when it is the dashboard's; resolves false when it is not. Never rejects. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

// The page loads only its own files: no inline script or style, no other origin (Chart.js
// sizes its canvases through the CSSOM, which the policy allows). No referrer: a "my
// results" link opened with ?key= must not pass the key on.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

/**
 * `db` answers the page's queries (it may be a read replica); `keysDb` checks API keys, on the
 * primary, so a revoked key is refused at once even while a replica lags. `server` tells the
 * empty state how to reach and feed this server (GET /api/campaign-status).
 */
export function createDashboard(
  db: Queryable,
  keysDb: Queryable = db,
  server?: ServerFacts,
): DashboardHandler {
  const keys = new KeyChecker(keysDb)
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const asset = ASSETS[url.pathname]
    const endpoint = ENDPOINTS[url.pathname]
    if (asset === undefined && endpoint === undefined) return false
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        throw new HttpError(405, 'only GET and HEAD', { allow: 'GET, HEAD' })
      if (asset !== undefined) {
        const bytes = await assetBytes(asset)
        res.writeHead(200, {
          ...PAGE_HEADERS,
          'content-type': asset.contentType,
          'cache-control': 'no-cache',
        })
        res.end(req.method === 'HEAD' ? undefined : bytes)
        return true
      }
      const viewer = await keys.viewer(req.headers.authorization)
      const params = new QueryParams(url.searchParams, endpoint!.params)
      const body = await endpoint!.run({
        db,
        params,
        viewer,
        now: new Date(),
        server,
        host: req.headers.host,
      })
      sendJson(res, 200, body)
    } catch (err) {
      const failure = asHttpError(err)
      // Only the path: headers may carry a key. Internal details go to the log, not the client.
      if (failure.status >= 500)
        log.warn(
          { path: url.pathname, err: err instanceof Error ? err.message : String(err) },
          'dashboard request failed',
        )
      sendJson(res, failure.status, { error: failure.message }, failure.headers)
    }
    return true
  }
}

function asHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (err instanceof InvalidParameterError) return new HttpError(400, err.message)
  if (err instanceof DatabaseUnavailableError)
    return new HttpError(503, 'the database is unavailable; retry shortly')
  return new HttpError(500, 'internal error (see the server log)')
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: object,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    // Answers depend on the key and on the clock: never cache them.
    'cache-control': 'no-store',
    vary: 'Authorization',
    'x-content-type-options': 'nosniff',
  })
  res.end(JSON.stringify(body))
}

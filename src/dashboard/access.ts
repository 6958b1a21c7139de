// Who is looking: everyone sees the aggregates; an API key in the Authorization header narrows
// every view to the results of the hosts registered with it ("my results"). There is no way
// to list keys or to see another key's results without the key.
import { findApiKey } from '../db/authorizations.js'
import type { Queryable } from '../db/database.js'
import { TokenBucket } from '../lib/token-bucket.js'
import { HttpError } from './http-error.js'

export interface Viewer {
  /** Set when a valid key was given. */
  authorizationId?: number
  username?: string
  keyPrefix?: string
}

const BEARER = /^Bearer +(\S+) *$/i

/**
 * Wrong keys tolerated per minute before answering 429, so that keys cannot be guessed
 * quickly through the dashboard either (the API has the same limit).
 */
const FAILURES_PER_MINUTE = 600

export class KeyChecker {
  private readonly failures = TokenBucket.perMinute(FAILURES_PER_MINUTE)

  constructor(private readonly db: Queryable) {}

  /** The viewer of a request from its `Authorization` header (absent: everyone). */
  async viewer(authorization: string | undefined): Promise<Viewer> {
    if (authorization === undefined) return {}
    const key = BEARER.exec(authorization)?.[1]
    if (key === undefined) return this.reject(401, 'the Authorization header must be "Bearer <API key>"')
    // Looked up by SHA-256 digest (findApiKey): the key itself is never stored or logged.
    const found = await findApiKey(this.db, key)
    if (found === undefined) return this.reject(401, 'unknown API key')
    if (found.revokedAt !== null) return this.reject(403, 'this API key was revoked')
    return { authorizationId: found.id, username: found.username, keyPrefix: found.keyPrefix }
  }

  private reject(status: 401 | 403, message: string): never {
    if (!this.failures.take()) throw new HttpError(429, 'too many wrong API keys; retry in a minute')
    throw new HttpError(status, message, status === 401 ? { 'www-authenticate': 'Bearer' } : {})
  }
}

import { Code, ConnectError } from '@connectrpc/connect'
import type { Authorization } from '../db/authorizations.js'
import { addApiKey, findApiKey, hashApiKey } from '../db/authorizations.js'
import type { Database } from '../db/database.js'
import { TokenBucket } from '../lib/token-bucket.js'
import { ApiKeyCache } from './api-key-cache.js'

export interface AuthOptions {
  /** Register may create a key for an unknown one (off by default; docs/PROTOCOL.md, "API keys"). */
  openRegistration: boolean
  /** Keys that open registration may create per minute. @default 10 */
  openRegistrationPerMinute?: number
  /** Failed authentications tolerated per minute before answering RESOURCE_EXHAUSTED. @default 600 */
  failedAuthPerMinute?: number
}

/**
 * Checks API keys: every RPC's first step. Unknown or missing → UNAUTHENTICATED; revoked →
 * PERMISSION_DENIED. Failed attempts are rate-limited so keys cannot be guessed quickly.
 */
export class Authenticator {
  private readonly registrations: TokenBucket
  private readonly failures: TokenBucket

  constructor(
    private readonly db: Database,
    private readonly options: AuthOptions,
    /** Keys checked recently (api-key-cache.ts); the server makes it listen for revocations. */
    readonly cache: ApiKeyCache = new ApiKeyCache(),
  ) {
    this.registrations = TokenBucket.perMinute(options.openRegistrationPerMinute ?? 10)
    this.failures = TokenBucket.perMinute(options.failedAuthPerMinute ?? 600)
  }

  /** Authenticates a key; `allowCreate` is true only for Register. */
  async authenticate(apiKey: string, allowCreate = false): Promise<Authorization> {
    if (apiKey === '') return this.reject(new ConnectError('api_key: missing API key', Code.Unauthenticated))
    const keyHash = hashApiKey(apiKey).toString('hex')
    const ticket = this.cache.ticket()
    let found = this.cache.get(keyHash)
    if (found === undefined) {
      found = await findApiKey(this.db, apiKey)
      if (found !== undefined) this.cache.set(keyHash, found, ticket)
    }
    if (found !== undefined) {
      if (found.revokedAt !== null)
        return this.reject(new ConnectError('api_key: this API key was revoked', Code.PermissionDenied))
      return found
    }
    if (allowCreate && this.options.openRegistration) {
      if (!this.registrations.take())
        throw new ConnectError('open registration is rate-limited; retry in a minute', Code.ResourceExhausted)
      const { authorization } = await addApiKey(this.db, 'open-registration', apiKey)
      this.cache.set(keyHash, authorization, ticket)
      return authorization
    }
    return this.reject(new ConnectError('api_key: unknown API key', Code.Unauthenticated))
  }

  private reject(error: ConnectError): never {
    if (!this.failures.take())
      throw new ConnectError('too many failed authentications; retry later', Code.ResourceExhausted)
    throw error
  }
}

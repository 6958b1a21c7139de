import { Code, ConnectError } from '@connectrpc/connect'
import type { Authorization } from '../db/authorizations.js'
import { addApiKey, findApiKey } from '../db/authorizations.js'
import type { Database } from '../db/database.js'
import { TokenBucket } from '../lib/token-bucket.js'

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
  ) {
    this.registrations = TokenBucket.perMinute(options.openRegistrationPerMinute ?? 10)
    this.failures = TokenBucket.perMinute(options.failedAuthPerMinute ?? 600)
  }

  /** Authenticates a key; `allowCreate` is true only for Register. */
  async authenticate(apiKey: string, allowCreate = false): Promise<Authorization> {
    if (apiKey === '') return this.reject(new ConnectError('api_key: missing API key', Code.Unauthenticated))
    const found = await findApiKey(this.db, apiKey)
    if (found !== undefined) {
      if (found.revokedAt !== null)
        return this.reject(new ConnectError('api_key: this API key was revoked', Code.PermissionDenied))
      return found
    }
    if (allowCreate && this.options.openRegistration) {
      if (!this.registrations.take())
        throw new ConnectError('open registration is rate-limited; retry in a minute', Code.ResourceExhausted)
      return (await addApiKey(this.db, 'open-registration', apiKey)).authorization
    }
    return this.reject(new ConnectError('api_key: unknown API key', Code.Unauthenticated))
  }

  private reject(error: ConnectError): never {
    if (!this.failures.take())
      throw new ConnectError('too many failed authentications; retry later', Code.ResourceExhausted)
    throw error
  }
}

import { createHash, randomBytes } from 'node:crypto'
import type { Queryable } from './database.js'

/** API keys: 32 random bytes, base64url, with a recognisable prefix. */
const KEY_PREFIX = 'pk_'

export interface Authorization {
  id: number
  username: string
  keyPrefix: string
  createdAt: Date
  revokedAt: Date | null
}

interface AuthorizationRow {
  id: number
  username: string
  key_prefix: string
  created_at: Date | string
  revoked_at: Date | string | null
}

/** SHA-256 of a key: what the database stores and looks up (never the key itself). */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest()
}

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url')
}

/** The first characters of a key, enough to tell keys apart in `keys list` without exposing them. */
export function keyPrefixOf(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 6)
}

function toAuthorization(row: AuthorizationRow): Authorization {
  return {
    id: Number(row.id),
    username: row.username,
    keyPrefix: row.key_prefix,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  }
}

/** Stores `key` (hashed) for `username`; generates a key when none is given. Returns the key. */
export async function addApiKey(
  db: Queryable,
  username: string,
  key: string = generateApiKey(),
): Promise<{ key: string; authorization: Authorization }> {
  const rows = await db.query<AuthorizationRow>(
    `INSERT INTO authorizations (api_key_sha256, key_prefix, username) VALUES ($1, $2, $3)
     RETURNING id, username, key_prefix, created_at, revoked_at`,
    [hashApiKey(key), keyPrefixOf(key), username],
  )
  return { key, authorization: toAuthorization(rows[0]!) }
}

/**
 * Finds the authorization of a key. The lookup is by SHA-256 digest through a unique index:
 * the comparison happens on digests, so its timing reveals nothing about the key itself.
 */
export async function findApiKey(db: Queryable, key: string): Promise<Authorization | undefined> {
  const rows = await db.query<AuthorizationRow>(
    'SELECT id, username, key_prefix, created_at, revoked_at FROM authorizations WHERE api_key_sha256 = $1',
    [hashApiKey(key)],
  )
  return rows[0] === undefined ? undefined : toAuthorization(rows[0])
}

export async function listApiKeys(db: Queryable): Promise<Authorization[]> {
  const rows = await db.query<AuthorizationRow>(
    'SELECT id, username, key_prefix, created_at, revoked_at FROM authorizations ORDER BY id',
  )
  return rows.map(toAuthorization)
}

/**
 * Revokes a key given either the whole key or its listed prefix (unique match required).
 * Returns the revoked authorization, or undefined when nothing matched.
 */
export async function revokeApiKey(db: Queryable, keyOrPrefix: string): Promise<Authorization | undefined> {
  let rows = await db.query<AuthorizationRow>(
    `UPDATE authorizations SET revoked_at = coalesce(revoked_at, now()) WHERE api_key_sha256 = $1
     RETURNING id, username, key_prefix, created_at, revoked_at`,
    [hashApiKey(keyOrPrefix)],
  )
  if (rows.length === 0) {
    const matches = await db.query<{ id: number }>('SELECT id FROM authorizations WHERE key_prefix = $1', [
      keyOrPrefix,
    ])
    if (matches.length > 1)
      throw new Error(`prefix ${keyOrPrefix} matches ${matches.length} keys; give the whole key`)
    if (matches.length === 1) {
      rows = await db.query<AuthorizationRow>(
        `UPDATE authorizations SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
         RETURNING id, username, key_prefix, created_at, revoked_at`,
        [matches[0]!.id],
      )
    }
  }
  return rows[0] === undefined ? undefined : toAuthorization(rows[0])
}

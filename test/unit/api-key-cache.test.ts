import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Authorization } from '../../src/db/authorizations.js'
import type { Database } from '../../src/db/database.js'
import { ApiKeyCache } from '../../src/server/api-key-cache.js'

const alice: Authorization = {
  id: 1,
  username: 'alice',
  keyPrefix: 'pk_abc',
  createdAt: new Date(0),
  revokedAt: null,
}

/** A database whose only ability is LISTEN: the test plays the notifications and the connection. */
function listeningDb() {
  const heard: { notify?: (payload: string) => void; state?: (listening: boolean) => void } = {}
  const db = {
    listen: async (_channel: string, notify: (p: string) => void, state?: (l: boolean) => void) => {
      heard.notify = notify
      heard.state = state
      return async () => undefined
    },
  } as unknown as Database
  return { db, heard }
}

describe('ApiKeyCache', () => {
  it('trusts a key for the listening TTL while it hears key changes, for the short one while it does not', async () => {
    let now = 0
    const cache = new ApiKeyCache({ listeningTtlMs: 60_000, deafTtlMs: 5_000, now: () => now })
    cache.set('a', alice, cache.ticket())
    now = 4_999
    assert.equal(cache.get('a'), alice)
    now = 5_000
    assert.equal(cache.get('a'), undefined, 'not listening: 5 s')

    const { db, heard } = listeningDb()
    await cache.listen(db)
    heard.state!(true)
    now = 10_000
    cache.set('a', alice, cache.ticket())
    now = 69_999
    assert.equal(cache.get('a'), alice)
    now = 70_000
    assert.equal(cache.get('a'), undefined, 'listening: 60 s')
  })

  it('drops everything when a key changes, or when it starts or stops hearing', async () => {
    const cache = new ApiKeyCache()
    const { db, heard } = listeningDb()
    await cache.listen(db)
    heard.state!(true)
    cache.set('a', alice, cache.ticket())
    heard.notify!('1')
    assert.equal(cache.get('a'), undefined)
    cache.set('a', alice, cache.ticket())
    heard.state!(false)
    assert.equal(cache.get('a'), undefined, 'changes may have been missed while deaf')
  })

  it('does not keep a lookup that started before a change (it may have read the key unrevoked)', () => {
    const cache = new ApiKeyCache()
    const ticket = cache.ticket()
    cache.clear() // a revocation arrives while the database lookup runs
    cache.set('a', alice, ticket)
    assert.equal(cache.get('a'), undefined)
  })

  it('keeps at most maxEntries keys, dropping the oldest', () => {
    const cache = new ApiKeyCache({ maxEntries: 2 })
    for (const key of ['a', 'b', 'c']) cache.set(key, alice, cache.ticket())
    assert.equal(cache.size, 2)
    assert.equal(cache.get('a'), undefined)
    assert.equal(cache.get('c'), alice)
  })
})

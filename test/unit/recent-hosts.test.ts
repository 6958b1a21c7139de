import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ClientHost } from '../../src/db/clients.js'
import { RecentHosts } from '../../src/server/recent-hosts.js'

const host = (agentVersion: string): ClientHost => ({
  clientId: 7,
  peerId: 3,
  multiHash: '12D3KooWhost',
  authorizationId: 1,
  agentVersion,
  listenIpVersions: null,
})

/** A RecentHosts over a registry the test edits, with its clock and a count of lookups. */
function recentHosts(maxAgeMs = 60_000) {
  const registry = new Map<string, ClientHost>()
  const clock = { now: 0 }
  const counts = { lookups: 0 }
  let pause: Promise<void> | undefined
  const hosts = new RecentHosts(
    async (multiHash) => {
      counts.lookups++
      const found = registry.get(multiHash)
      await pause
      return found
    },
    maxAgeMs,
    () => clock.now,
  )
  return {
    hosts,
    registry,
    clock,
    counts,
    holdLookups: (until: Promise<void>) => {
      pause = until
    },
  }
}

describe('RecentHosts', () => {
  it('answers a host found less than maxAgeMs ago without a lookup, and looks it up again after', async () => {
    const t = recentHosts(1_000)
    t.registry.set('12D3KooWhost', host('punchr/go-client/0.1'))
    assert.equal((await t.hosts.get('12D3KooWhost'))?.agentVersion, 'punchr/go-client/0.1')
    t.registry.set('12D3KooWhost', host('punchr/ts-client/0.2'))
    t.clock.now = 999
    assert.equal((await t.hosts.get('12D3KooWhost'))?.agentVersion, 'punchr/go-client/0.1')
    assert.equal(t.counts.lookups, 1)
    t.clock.now = 1_000
    assert.equal((await t.hosts.get('12D3KooWhost'))?.agentVersion, 'punchr/ts-client/0.2')
    assert.equal(t.counts.lookups, 2)
  })

  it('does not remember a host that is not registered: it is found once it registers', async () => {
    const t = recentHosts()
    assert.equal(await t.hosts.get('12D3KooWhost'), undefined)
    t.registry.set('12D3KooWhost', host('punchr/ts-client/0.2'))
    assert.equal((await t.hosts.get('12D3KooWhost'))?.clientId, 7)
    assert.equal(t.counts.lookups, 2)
  })

  it('looks a forgotten host up again, and never keeps a lookup that a forget overtook', async () => {
    const t = recentHosts()
    t.registry.set('12D3KooWhost', host('punchr/go-client/0.1'))
    await t.hosts.get('12D3KooWhost')
    t.hosts.forget('12D3KooWhost')
    // A lookup that read the old row, and answers only after the host registered again.
    let answer: () => void = () => undefined
    t.holdLookups(
      new Promise<void>((resolve) => {
        answer = resolve
      }),
    )
    const before = t.hosts.get('12D3KooWhost')
    t.registry.set('12D3KooWhost', host('punchr/ts-client/0.2'))
    t.hosts.forget('12D3KooWhost')
    answer()
    assert.equal((await before)?.agentVersion, 'punchr/go-client/0.1', 'the caller gets what was read')
    t.holdLookups(Promise.resolve())
    assert.equal((await t.hosts.get('12D3KooWhost'))?.agentVersion, 'punchr/ts-client/0.2')
    assert.equal(t.counts.lookups, 3)
  })
})

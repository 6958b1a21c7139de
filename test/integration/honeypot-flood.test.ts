// A flood of short inbound connections against a honeypot on 127.0.0.1 and a real database
// (docs/PROTOCOL.md, "Honeypot": memory stays bounded under a flood of connections), made by dialers in a worker
// thread (test/support/flood-dialers.ts). Afterwards: no error escaped, every identity is a
// candidate exactly once, the writes took far fewer transactions than there were
// connections, the honeypot's heap did not grow beyond a generous bound, and nothing piled up
// (tracked connections, waiting events, peer store). Not a timing test: the rate is printed.
import assert from 'node:assert/strict'
import { it } from 'node:test'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { WRITE_INTERVAL } from '../../src/honeypot/constants.js'
import { describeEachDatabase } from '../support/databases.js'
import { honeypotAddr, startLoopbackHoneypot } from '../support/dht.js'
import { newPeer } from '../support/fixtures.js'
import { flood } from '../support/flood-dialers.js'
import { until } from '../support/until.js'

// Enough dialers at once to keep both cores busy: one identity's connections come one after
// another (libp2p reuses an open connection to the same peer).
const POOL = 32
const CONNECTIONS_PER_POOL_PEER = 60
const FRESH = 80 // 2000 connections in all
/** Heap growth allowed across the flood, after garbage collection. Measured: a few MB. */
const HEAP_BOUND = 48 * 1024 * 1024

// A full collection before each heap reading, so that the comparison is about live objects.
v8.setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
function liveHeap(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

describeEachDatabase('honeypot under a flood of inbound connections', (getDb) => {
  it('records every qualifying peer once, in few transactions, with bounded memory and no escaped error', async (t) => {
    const escaped: unknown[] = []
    const onError = (err: unknown) => escaped.push(err)
    process.on('unhandledRejection', onError)
    process.on('uncaughtException', onError)
    const honeypot = await startLoopbackHoneypot(
      getDb(),
      { maxConnections: 4000 },
      { writeInterval: WRITE_INTERVAL },
    )
    try {
      const heapBefore = liveHeap()
      const load = await flood({
        target: honeypotAddr(honeypot).toString(),
        relayId: (await newPeer()).id,
        pool: POOL,
        connectionsPerPoolPeer: CONNECTIONS_PER_POOL_PEER,
        fresh: FRESH,
      })
      const { opened, failed, seconds, peerIds } = load.result
      await until(
        'every identity to be a candidate',
        async () => {
          const [row] = await getDb().query<{ n: string | number }>(
            'SELECT count(*) AS n FROM remote_candidates',
          )
          return Number(row!.n) === peerIds.length
        },
        30_000,
      )
      await load.release()
      await until('the honeypot to forget the connections', () => honeypot.backlog.trackedConnections === 0)
      await until('every event to be written', () => honeypot.backlog.pendingEvents === 0)
      await until(
        'the honeypot to forget the visitors',
        async () => (await honeypot.node.peerStore.all()).length === 0,
      )
      const heapAfter = liveHeap()

      const candidates = await getDb().query<{ multi_hash: string }>(
        'SELECT p.multi_hash FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id ORDER BY 1',
      )
      assert.deepEqual(
        candidates.map((c) => c.multi_hash),
        [...peerIds].sort(),
        'each identity exactly once, and nobody else',
      )
      const [events] = await getDb().query<{ n: string | number; peers: string | number }>(
        'SELECT count(*) AS n, count(DISTINCT remote_id) AS peers FROM connection_events',
      )
      const transactions = (await honeypot.metrics.batches.get()).values.reduce((n, v) => n + v.value, 0)
      const inbound = (await honeypot.metrics.inbound.get()).values
      const byResult = Object.fromEntries(inbound.map((v) => [v.labels.result, v.value]))
      t.diagnostic(
        `${opened} connections (${failed} failed) in ${seconds.toFixed(1)} s = ${Math.round(opened / seconds)}/s; ` +
          `results ${JSON.stringify(byResult)}; ${events!.n} events of ${events!.peers} peers in ` +
          `${transactions} transactions; heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MB`,
      )

      assert.deepEqual(escaped, [], 'no error escaped')
      assert.ok(opened >= 0.95 * (POOL * CONNECTIONS_PER_POOL_PEER + FRESH), `${opened} connections opened`)
      assert.ok((byResult.recorded ?? 0) > peerIds.length, 'connections of the flood itself were recorded')
      assert.equal(Number(events!.peers), peerIds.length)
      assert.ok(Number(events!.n) <= opened + peerIds.length, 'at most one event per connection')
      assert.ok(transactions * 20 < opened, `${transactions} transactions for ${opened} connections`)
      assert.ok(heapAfter - heapBefore < HEAP_BOUND, `heap grew by ${heapAfter - heapBefore} bytes`)
    } finally {
      await honeypot.stop()
      process.off('unhandledRejection', onError)
      process.off('uncaughtException', onError)
    }
  })
})

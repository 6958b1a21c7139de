// The original Go and Rust punchr clients against a real server (issue 15): GetAddrInfo hands
// each only relay addresses it can decode and filters it can run, and records nothing for an
// answer it could not use; TrackHolePunch stores their reports with each documented quirk
// normalised and named, while the same reports from our client are refused.
import assert from 'node:assert/strict'
import { after, before, beforeEach, it } from 'node:test'
import { Code, ConnectError } from '@connectrpc/connect'
import { multiaddr } from '@multiformats/multiaddr'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import type { TrackHolePunchRequest } from '../../src/gen/punchr_pb.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { parsePeerIdBytes } from '../../src/lib/peer-id.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer, type TestPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import {
  GO_AGENT,
  goQuirkyReport,
  RUST_AGENT,
  rustNoStreamReport,
  rustQuirkySuccess,
} from '../support/legacy-reports.js'
import { startTestServer, type TestServer } from '../support/server.js'

const OURS = 'punchr/ts-client/0.1.0 transports=tcp,quic'
const NS_PER_MS = 1_000_000n

/** A remote whose relay holds it over TCP and over QUIC v1, as nearly every NATed peer today. */
async function dualRelayRemote(t: TestServer): Promise<{ remote: TestPeer; tcp: string; quic: string }> {
  const [remote, relay] = await Promise.all([newPeer(), newPeer()])
  // Seen over both IP versions: the remote can be punched on either.
  await seenByHoneypot(t.db, remote, { relays: [relay], connectionAddr: '/ip6/2600:1::7/tcp/4001' })
  const [tcp] = await seenByHoneypot(t.db, remote, {
    relays: [relay],
    connectionAddr: '/ip4/11.0.0.7/tcp/4001',
  })
  const quic = tcp!.replace('/tcp/4001/', '/udp/4001/quic-v1/')
  await recordAddrs(t, remote, [tcp!, quic])
  return { remote, tcp: tcp!, quic }
}

/** Records the remote again, as the honeypot would after a later identify, with `addrs`. */
async function recordAddrs(t: TestServer, remote: TestPeer, addrs: string[]): Promise<void> {
  await recordConnectionEvent(
    t.db,
    {
      remoteId: remote.id,
      agentVersion: 'kubo/0.30.0',
      protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
      listenAddrs: addrs.map((a) => classifyMultiaddr(multiaddr(a))),
      connectionAddr: null,
      openedAt: new Date(),
    },
    () => ({ country: null, asn: null }),
  )
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'OK'
  } catch (err) {
    assert.ok(err instanceof ConnectError, String(err))
    return Code[err.code]
  }
}

describeEachDatabase('old punchr clients', (getDb) => {
  let t: TestServer
  let key: string
  const hosts: Record<'go' | 'rust' | 'ours', TestPeer> = {} as never
  const agents = { go: GO_AGENT, rust: RUST_AGENT, ours: OURS }

  before(async () => {
    t = await startTestServer(getDb())
    key = await t.addKey('volunteer')
  })
  after(() => t.stop())

  beforeEach(async () => {
    await t.db.query('DELETE FROM allocations')
    await t.db.query('DELETE FROM remote_candidates')
    for (const name of ['go', 'rust', 'ours'] as const) {
      hosts[name] = await newPeer()
      await t.client.register({ clientId: hosts[name].bytes, agentVersion: agents[name], apiKey: key })
    }
  })

  const ask = (host: TestPeer) =>
    t.client.getAddrInfo({ hostId: host.bytes, allHostIds: [host.bytes], apiKey: key })

  it('the Go client gets only the TCP relay address of a remote that also has a QUIC v1 one', async () => {
    const { remote, tcp, quic } = await dualRelayRemote(t)
    const answer = await ask(hosts.go)
    assert.deepEqual(answer.remoteId, remote.bytes)
    assert.deepEqual(
      answer.multiAddresses.map((b) => multiaddr(b).toString()),
      [tcp],
    )
    const allocated = await t.db.query<{ maddr: string }>(
      'SELECT ma.maddr FROM allocations a JOIN multi_addresses ma ON ma.id = a.multi_address_id',
    )
    assert.deepEqual(
      allocated.map((r) => r.maddr),
      [tcp],
    )
    // Our client, asking next, is handed the same remote with its QUIC address too.
    const ours = await ask(hosts.ours)
    assert.ok(ours.multiAddresses.map((b) => multiaddr(b).toString()).includes(quic))
  })

  it('a remote reachable only over QUIC v1 is not handed to the Go client, not allocated, and not moved back in the rotation', async () => {
    const [remote, relay] = await Promise.all([newPeer(), newPeer()])
    const quicOnly = `/ip4/11.0.0.9/udp/4001/quic-v1/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`
    await recordAddrs(t, remote, [quicOnly])
    assert.equal(await code(ask(hosts.go)), 'NotFound')
    const allocations = await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM allocations')
    assert.equal(Number(allocations[0]!.n), 0)
    const candidate = await t.db.query<{ last_allocated_at: string | null }>(
      'SELECT last_allocated_at FROM remote_candidates',
    )
    assert.equal(candidate[0]!.last_allocated_at, null, 'still first in line for the clients that can use it')
    const ours = await ask(hosts.ours)
    assert.deepEqual(ours.remoteId, remote.bytes)
    // The Rust client's multiaddr knows quic-v1.
    await t.db.query('DELETE FROM allocations')
    await t.db.query('UPDATE remote_candidates SET last_allocated_at = NULL')
    assert.deepEqual((await ask(hosts.rust)).remoteId, remote.bytes)
  })

  it('filters: unfiltered before the first report; afterwards only those the client can run on its IP versions', async () => {
    const draws = async (host: TestPeer, n: number) => {
      const seen = new Set<string>()
      for (let i = 0; i < n; i++) {
        await t.db.query('DELETE FROM allocations')
        await dualRelayRemote(t)
        const answer = await ask(host)
        seen.add(answer.protocols.join('+') || 'none')
        await t.db.query('DELETE FROM remote_candidates')
      }
      return [...seen].sort()
    }
    for (const name of ['go', 'rust', 'ours'] as const)
      assert.deepEqual(await draws(hosts[name], 12), ['none'], name)

    // A report tells the server the host's IP versions: the Go host listens on IPv4 (and on
    // loopback IPv6 only), the Rust host on IPv4 and IPv6.
    const relay = await newPeer()
    const t0 = BigInt(Date.now() - 60_000) * NS_PER_MS
    await t.client.trackHolePunch(
      goQuirkyReport({ client: hosts.go, remote: await newPeer(), relay, apiKey: key, t0 }),
    )
    await t.client.trackHolePunch(
      rustQuirkySuccess({ client: hosts.rust, remote: await newPeer(), relay, apiKey: key, t0 }),
    )
    const versions = await t.db.query<{ multi_hash: string; listen_ip_versions: number[] }>(
      `SELECT p.multi_hash, c.listen_ip_versions FROM clients c JOIN peers p ON p.id = c.peer_id
       WHERE p.multi_hash = ANY($1::text[])`,
      [[hosts.go.id, hosts.rust.id]],
    )
    assert.deepEqual(
      Object.fromEntries(versions.map((r) => [r.multi_hash, r.listen_ip_versions.map(Number)])),
      { [hosts.go.id]: [4], [hosts.rust.id]: [4, 6] },
    )
    const goFilters = await draws(hosts.go, 40)
    assert.ok(
      goFilters.every((f) => ['4+6', 'none'].includes(f)),
      goFilters.join(' '),
    )
    assert.ok(goFilters.includes('4+6'), 'a TCP filter is drawn within 40 rounds')
    assert.deepEqual(await draws(hosts.rust, 12), ['none'])
  })

  describeReports()

  function describeReports() {
    const send = async (
      build: (p: Parameters<typeof goQuirkyReport>[0]) => TrackHolePunchRequest,
      host: TestPeer,
    ) => {
      const report = build({
        client: host,
        remote: await newPeer(),
        relay: await newPeer(),
        apiKey: key,
        t0: BigInt(Date.now() - 300_000) * NS_PER_MS,
      })
      const status = await code(t.client.trackHolePunch(report))
      const rows = await t.db.query<{
        id: string | number
        outcome: string
        quirks: string[]
        client_implementation: string
      }>(
        `SELECT r.id, r.outcome::text AS outcome, r.quirks, r.client_implementation FROM hole_punch_results r
         JOIN peers p ON p.id = r.remote_id WHERE p.multi_hash = $1`,
        [peerOf(report)],
      )
      return { status, report, row: rows[0] }
    }

    it('the Go client: attempt opened after its events, NO_STREAM after an attempt, empty error strings — stored, normalised, named', async () => {
      const { status, report, row } = await send(goQuirkyReport, hosts.go)
      assert.equal(status, 'OK')
      assert.equal(row!.client_implementation, 'punchr-go')
      assert.deepEqual(row!.quirks, [
        'go-attempt-opened-late',
        'go-no-stream-after-attempts',
        'go-empty-attempt-errors',
      ])
      assert.equal(row!.outcome, 'FAILED')
      const [attempt] = await t.db.query<{
        opened_us: number
        started_us: number
        error: string | null
        direct_dial_error: string | null
      }>(
        `SELECT (extract(epoch FROM opened_at) * 1e6)::float8 AS opened_us, (extract(epoch FROM started_at) * 1e6)::float8 AS started_us,
           error, direct_dial_error FROM hole_punch_attempts WHERE hole_punch_result_id = $1`,
        [row!.id],
      )
      assert.equal(attempt!.opened_us, attempt!.started_us)
      assert.equal(attempt!.opened_us, Number(report.holePunchAttempts[0]!.startedAt / 1000n))
      assert.equal(attempt!.error, null)
      assert.equal(attempt!.direct_dial_error, null)
      const counts = await t.db.query<{ key: string }>(
        `SELECT key FROM hole_punch_result_counts WHERE dimension = 'client-implementation'`,
      )
      assert.ok(counts.some((c) => c.key === 'punchr-go (normalised)'))
    })

    it('the Rust client: elapsed time in microseconds, opened_at = connect time, FAILED for no stream — stored, normalised, named', async () => {
      const success = await send(rustQuirkySuccess, hosts.rust)
      assert.equal(success.status, 'OK')
      assert.deepEqual(success.row!.quirks, ['rust-elapsed-microseconds', 'rust-opened-at-connect'])
      const [attempt] = await t.db.query<{ elapsed_time: number }>(
        'SELECT elapsed_time FROM hole_punch_attempts WHERE hole_punch_result_id = $1',
        [success.row!.id],
      )
      assert.equal(attempt!.elapsed_time, 0.05)
      const noStream = await send(rustNoStreamReport, hosts.rust)
      assert.equal(noStream.status, 'OK')
      assert.equal(noStream.row!.outcome, 'NO_STREAM')
      assert.deepEqual(noStream.row!.quirks, ['rust-no-stream-as-failed'])
    })

    it('the same reports from our client are refused with the field named, and nothing is stored', async () => {
      for (const build of [goQuirkyReport, rustQuirkySuccess]) {
        const { status, row } = await send(build, hosts.ours)
        assert.equal(status, 'InvalidArgument')
        assert.equal(row, undefined)
      }
    })

    it('a report sent again by an old client is stored once', async () => {
      const report = rustQuirkySuccess({
        client: hosts.rust,
        remote: await newPeer(),
        relay: await newPeer(),
        apiKey: key,
        t0: BigInt(Date.now() - 200_000) * NS_PER_MS,
      })
      await t.client.trackHolePunch(report)
      await t.client.trackHolePunch(report)
      const rows = await t.db.query<{ n: string | number }>(
        'SELECT count(*) AS n FROM hole_punch_results r JOIN peers p ON p.id = r.remote_id WHERE p.multi_hash = $1',
        [peerOf(report)],
      )
      assert.equal(Number(rows[0]!.n), 1)
    })
  }
})

/** The remote peer ID of a report, as text. */
function peerOf(report: TrackHolePunchRequest): string {
  return parsePeerIdBytes(report.remoteId)
}

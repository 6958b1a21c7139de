import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fromBinary, isFieldSet } from '@bufbuild/protobuf'
import { status } from '@grpc/grpc-js'
import { multiaddr } from '@multiformats/multiaddr'
import { revokeApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { HolePunchOutcome, TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import { describeEachDatabase } from '../support/databases.js'
import { maBytes, newPeer, relayAddr, type TestPeer } from '../support/fixtures.js'
import {
  expectStatus,
  type GrpcJsClient,
  grpcJsClient,
  type Message,
  messageType,
  serviceDefinition,
  statusMessage,
} from '../support/grpc-js-client.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { startPostgres } from '../support/postgres.js'
import { appendBytesField, dropField } from '../support/raw-requests.js'
import { startTestServer, type TestServer } from '../support/server.js'

/**
 * Wire compatibility with an independent gRPC stack: @grpc/grpc-js + @grpc/proto-loader
 * (protobufjs) load proto/punchr.proto and drive all three RPCs over HTTP/2 against a real
 * server, checking answers, gRPC status numbers and what ends up in the database.
 */

const NS_PER_MS = 1_000_000n
const NS = 1_000_000_000n

/** A Buffer of a multiaddr's binary form (proto-loader hands bytes over as Buffers). */
const ma = (text: string) => Buffer.from(maBytes(text))
const pid = (peer: TestPeer) => Buffer.from(peer.bytes)

/** Every table a TrackHolePunch writes to, counted: a rejected report must change none. */
const REPORT_TABLES = [
  'peers',
  'multi_addresses',
  'hole_punch_results',
  'hole_punch_results_x_multi_addresses',
  'hole_punch_results_x_listen_multi_addresses',
  'hole_punch_attempts',
  'hole_punch_attempts_x_multi_addresses',
  'latency_measurements',
  'port_mappings',
  'network_information',
]

async function rowCounts(db: Database): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of REPORT_TABLES) {
    const rows = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`)
    counts[table] = Number(rows[0]!.n)
  }
  return counts
}

interface ReportPeers {
  client: TestPeer
  remote: TestPeer
  relay: TestPeer
  apiKey: string
}

/**
 * A complete TrackHolePunchRequest as proto-loader takes it (snake_case, uint64 as decimal
 * strings, enums by name): two attempts (the second succeeds), three latency measurements,
 * two NAT mappings, network information, nanosecond timestamps with sub-millisecond parts.
 */
function grpcReport(p: ReportPeers, t0: bigint): Message {
  const relayedTcp = relayAddr(p.relay, p.remote, 1)
  const relayedQuic = `/ip4/11.0.0.1/udp/4001/quic-v1/p2p/${p.relay.id}/p2p-circuit/p2p/${p.remote.id}`
  const ts = (offsetNs: bigint) => String(t0 + offsetNs)
  return {
    client_id: pid(p.client),
    remote_id: pid(p.remote),
    remote_multi_addresses: [ma(relayedTcp), ma(relayedQuic)],
    connect_started_at: ts(0n),
    connect_ended_at: ts(NS / 10n + 1n),
    hole_punch_attempts: [
      {
        opened_at: ts(NS / 5n + 2n),
        started_at: ts(NS / 4n + 3n),
        ended_at: ts(5n * NS + 4n),
        start_rtt: 0.05,
        elapsed_time: 4.75,
        outcome: 'HOLE_PUNCH_ATTEMPT_OUTCOME_FAILED',
        error: 'all dials failed',
        direct_dial_error: 'dial tcp4 12.0.0.20:4001: i/o timeout',
        multi_addresses: [ma('/ip4/12.0.0.20/tcp/4001'), ma('/ip4/12.0.0.20/udp/4001/quic-v1')],
      },
      {
        opened_at: ts(6n * NS + 5n),
        started_at: ts(6n * NS + NS / 10n + 6n),
        ended_at: ts(7n * NS + 7n),
        start_rtt: 0.048,
        elapsed_time: 0.9,
        outcome: 'HOLE_PUNCH_ATTEMPT_OUTCOME_SUCCESS',
        multi_addresses: [ma('/ip4/12.0.0.20/tcp/4001'), ma('/ip6/2001:db8::20/tcp/4001')],
      },
    ],
    open_multi_addresses: [ma(relayedTcp), ma('/ip4/12.0.0.20/tcp/4001')],
    has_direct_conns: true,
    error: 'attempt 1: all dials failed (Zürich → 東京)',
    outcome: 'HOLE_PUNCH_OUTCOME_SUCCESS',
    ended_at: ts(8n * NS + 8n),
    listen_multi_addresses: [
      ma('/ip4/192.168.1.10/tcp/4001'),
      ma('/ip4/12.0.0.30/tcp/4001'),
      ma('/ip4/12.0.0.30/udp/4001/quic-v1'),
    ],
    api_key: p.apiKey,
    protocols: [4, 6],
    latency_measurements: [
      {
        remote_id: pid(p.relay),
        agent_version: 'go-libp2p/0.35.0',
        protocols: ['/libp2p/circuit/relay/0.2.0/hop', '/ipfs/ping/1.0.0'],
        multi_address: ma('/ip4/11.0.0.1/tcp/4001'),
        rtts: [0.02, 0.021, 0],
        rtt_errs: ['', '', 'context deadline exceeded'],
        mtype: 'TO_RELAY',
      },
      {
        remote_id: pid(p.remote),
        agent_version: 'kubo/0.29.0',
        protocols: ['/libp2p/dcutr'],
        multi_address: ma(relayedTcp),
        rtts: [0.25, 0.2625],
        rtt_errs: ['', ''],
        mtype: 'TO_REMOTE_THROUGH_RELAY',
      },
      {
        remote_id: pid(p.remote),
        agent_version: 'kubo/0.29.0',
        protocols: ['/libp2p/dcutr'],
        multi_address: ma('/ip4/12.0.0.20/tcp/4001'),
        rtts: [0.01, 0.0125],
        rtt_errs: ['', ''],
        mtype: 'TO_REMOTE_AFTER_HOLE_PUNCH',
      },
    ],
    network_information: {
      router_login_html: '<html><title>FRITZ!Box</title></html>',
      router_login_html_error: '',
      supports_ipv6: true,
      supports_ipv6_error: 'no global IPv6 address',
    },
    nat_mappings: [
      { internal_port: 4001, external_port: 40001, protocol: 'tcp', addr: '12.0.0.30', addr_network: 'ip4' },
      { internal_port: 4001, external_port: 40002, protocol: 'udp', addr: '12.0.0.30', addr_network: 'ip4' },
    ],
  }
}

const closeTo = (actual: unknown, want: number, what: string) =>
  assert.ok(Math.abs(Number(actual) - want) < 1e-6, `${what}: ${String(actual)} ≠ ${want}`)

/** A stored timestamp matches Unix nanoseconds `ns` to the millisecond (a JS Date's precision). */
const sameInstant = (actual: unknown, ns: string, what: string) => {
  assert.ok(actual instanceof Date, `${what} is a timestamp`)
  const wantMs = Number(BigInt(ns) / NS_PER_MS) + Number(BigInt(ns) % NS_PER_MS) / 1e6
  assert.ok(Math.abs(actual.getTime() - wantMs) < 1, `${what}: ${actual.toISOString()} vs ${ns} ns`)
}

const nowNs = () => BigInt(Date.now()) * NS_PER_MS

describe('grpc-js: the service as proto-loader sees it', () => {
  it('has the gRPC paths /PunchrService/<Method> (no package)', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(serviceDefinition).map(([name, m]) => [name, m.path])),
      {
        Register: '/PunchrService/Register',
        GetAddrInfo: '/PunchrService/GetAddrInfo',
        TrackHolePunch: '/PunchrService/TrackHolePunch',
      },
    )
    for (const m of Object.values(serviceDefinition)) {
      assert.equal(m.requestStream, false)
      assert.equal(m.responseStream, false)
    }
  })

  it('protobufjs does not enforce required fields on encode: it writes their defaults instead', () => {
    // One might expect omitted required fields to stay off the wire. protobufjs (7.x) writes
    // every required field unconditionally, an omitted one with its default: the server sees
    // outcome UNKNOWN (0) and connect_started_at 0, not missing fields. Truly missing fields
    // need raw bytes (callRaw below).
    const bytes = messageType('TrackHolePunchRequest').serialize({ api_key: 'k' })
    const seen = fromBinary(TrackHolePunchRequestSchema, bytes)
    const F = TrackHolePunchRequestSchema.field
    for (const field of [F.clientId, F.remoteId, F.connectStartedAt, F.connectEndedAt, F.outcome, F.endedAt])
      assert.ok(isFieldSet(seen, field), `${field.name} is on the wire`)
    assert.equal(seen.outcome, HolePunchOutcome.UNKNOWN)
    assert.equal(seen.connectStartedAt, 0n)
    // Optional and repeated fields left out stay off the wire.
    assert.ok(!isFieldSet(seen, F.error))
    assert.ok(!isFieldSet(seen, F.networkInformation))
  })
})

describeEachDatabase('grpc-js client against the punchr server', (getDb) => {
  let t: TestServer
  let grpc: GrpcJsClient
  let key: string
  let client: TestPeer
  let relay: TestPeer
  let clientPeerId: string

  before(async () => {
    t = await startTestServer(getDb())
    grpc = grpcJsClient(`127.0.0.1:${t.server.grpcPort}`)
    key = await t.addKey('alice')
    ;[client, relay] = await Promise.all([newPeer(), newPeer()])
    const registered = await grpc.call('Register', {
      client_id: pid(client),
      agent_version: 'punchr/go-client/0.7.0',
      protocols: ['/ipfs/ping/1.0.0', '/libp2p/dcutr'],
      api_key: key,
    })
    clientPeerId = registered.db_peer_id as string
  })
  after(async () => {
    grpc?.close()
    await t?.stop()
  })

  /** A fresh remote per report keeps reports apart (and clear of the retry de-duplication). */
  const report = async (overrides: Partial<ReportPeers> = {}) => {
    const peers = { client, relay, remote: await newPeer(), apiKey: key, ...overrides }
    return { peers, message: grpcReport(peers, nowNs() - 60n * NS + 123_456n) }
  }

  /** Sends a report that must be rejected with `code`, and checks that it wrote nothing. */
  const expectRejected = async (send: () => Promise<unknown>, code: status, details?: RegExp) => {
    const before = await rowCounts(t.db)
    const err = await expectStatus(send(), code, details)
    assert.deepEqual(await rowCounts(t.db), before, 'a rejected report writes no rows')
    return err
  }

  it('Register: OK with db_peer_id as an int64 decimal string, the same on re-registration', async () => {
    // The before() hook registered `client` through grpc-js.
    assert.equal(typeof clientPeerId, 'string')
    assert.match(clientPeerId, /^[1-9]\d*$/)
    const rows = await t.db.query<{ id: string | number; agent_version: string; protocols: string[] }>(
      'SELECT id, agent_version, protocols FROM peers WHERE multi_hash = $1',
      [client.id],
    )
    assert.equal(String(rows[0]!.id), clientPeerId)
    assert.equal(rows[0]!.agent_version, 'punchr/go-client/0.7.0')
    assert.deepEqual([...rows[0]!.protocols].sort(), ['/ipfs/ping/1.0.0', '/libp2p/dcutr'])
    const again = await grpc.call('Register', {
      client_id: pid(client),
      agent_version: 'punchr/go-client/0.7.0',
      protocols: ['/ipfs/ping/1.0.0', '/libp2p/dcutr'],
      api_key: key,
    })
    assert.deepEqual(Object.keys(again), ['db_peer_id'])
    assert.equal(again.db_peer_id, clientPeerId)
    // A second host gets its own id.
    const other = await grpc.call('Register', {
      client_id: pid(await newPeer()),
      agent_version: 'punchr/go-client/0.7.0',
      api_key: key,
    })
    assert.match(other.db_peer_id as string, /^[1-9]\d*$/)
    assert.notEqual(other.db_peer_id, clientPeerId)
  })

  it('GetAddrInfo: NOT_FOUND (5) when no remote is a candidate', async () => {
    await t.db.query('DELETE FROM remote_candidates')
    await expectStatus(
      grpc.call('GetAddrInfo', { host_id: pid(client), all_host_ids: [pid(client)], api_key: key }),
      status.NOT_FOUND,
    )
  })

  it('GetAddrInfo: OK with the seeded remote, its relay addrs and a protocol filter', async () => {
    await t.db.query('DELETE FROM remote_candidates')
    const remote = await newPeer()
    const relay2 = await newPeer()
    const addrs = await seenByHoneypot(t.db, remote, { relays: [relay, relay2] })
    const res = await grpc.call('GetAddrInfo', {
      host_id: pid(client),
      all_host_ids: [pid(client)],
      api_key: key,
    })
    assert.ok(Buffer.isBuffer(res.remote_id))
    assert.deepEqual(res.remote_id, pid(remote))
    const served = (res.multi_addresses as Buffer[]).map((b) => multiaddr(new Uint8Array(b)).toString())
    assert.deepEqual([...served].sort(), [...addrs].sort())
    const protocols = (res.protocols as number[] | undefined) ?? []
    for (const code of protocols) assert.ok([4, 6, 41, 461].includes(code), `filter code ${code}`)
  })

  it('TrackHolePunch: a full report (attempts, latencies, NAT mappings, network information) is stored whole', async () => {
    const { peers, message } = await report()
    const res = await grpc.call('TrackHolePunch', message)
    assert.deepEqual(res, {})

    const [result] = await t.db.query<Record<string, unknown>>(
      `SELECT r.*, cp.id AS client_peer_id, cp.multi_hash AS client_multi_hash
         FROM hole_punch_results r
         JOIN peers rp ON rp.id = r.remote_id
         JOIN clients c ON c.id = r.client_id
         JOIN peers cp ON cp.id = c.peer_id
        WHERE rp.multi_hash = $1`,
      [peers.remote.id],
    )
    assert.ok(result !== undefined, 'the result row exists')
    assert.equal(result.client_multi_hash, client.id)
    assert.equal(String(result.client_peer_id), clientPeerId)
    sameInstant(result.connect_started_at, message.connect_started_at as string, 'connect_started_at')
    sameInstant(result.connect_ended_at, message.connect_ended_at as string, 'connect_ended_at')
    sameInstant(result.ended_at, message.ended_at as string, 'ended_at')
    assert.equal(result.has_direct_conns, true)
    assert.equal(result.error, 'attempt 1: all dials failed (Zürich → 東京)')
    assert.equal(result.outcome, 'SUCCESS')
    assert.deepEqual(result.protocols, [4, 6])
    assert.equal(Number(result.attempt_count), 2)
    assert.equal(result.final_transport, 'tcp')
    assert.equal(Number(result.final_ip_version), 4)
    const resultId = result.id

    const links = await t.db.query<{ maddr: string; relationship: string }>(
      `SELECT m.maddr, x.relationship FROM hole_punch_results_x_multi_addresses x
         JOIN multi_addresses m ON m.id = x.multi_address_id
        WHERE x.hole_punch_result_id = $1`,
      [resultId],
    )
    const relayedTcp = relayAddr(relay, peers.remote, 1)
    const relayedQuic = `/ip4/11.0.0.1/udp/4001/quic-v1/p2p/${relay.id}/p2p-circuit/p2p/${peers.remote.id}`
    assert.deepEqual(
      links.map((l) => `${l.relationship} ${l.maddr}`).sort(),
      [
        `INITIAL ${relayedTcp}`,
        `INITIAL ${relayedQuic}`,
        `FINAL ${relayedTcp}`,
        'FINAL /ip4/12.0.0.20/tcp/4001',
      ].sort(),
    )
    const listen = await t.db.query<{ maddr: string }>(
      `SELECT m.maddr FROM hole_punch_results_x_listen_multi_addresses x
         JOIN multi_addresses m ON m.id = x.multi_address_id
        WHERE x.hole_punch_result_id = $1 ORDER BY m.maddr`,
      [resultId],
    )
    assert.deepEqual(
      listen.map((l) => l.maddr),
      ['/ip4/12.0.0.30/tcp/4001', '/ip4/12.0.0.30/udp/4001/quic-v1', '/ip4/192.168.1.10/tcp/4001'],
    )

    const attempts = await t.db.query<Record<string, unknown>>(
      'SELECT * FROM hole_punch_attempts WHERE hole_punch_result_id = $1 ORDER BY attempt_number',
      [resultId],
    )
    const sent = message.hole_punch_attempts as Message[]
    assert.equal(attempts.length, 2)
    for (const [i, row] of attempts.entries()) {
      const want = sent[i]!
      assert.equal(Number(row.attempt_number), i + 1)
      sameInstant(row.opened_at, want.opened_at as string, `attempt ${i + 1} opened_at`)
      sameInstant(row.started_at, want.started_at as string, `attempt ${i + 1} started_at`)
      sameInstant(row.ended_at, want.ended_at as string, `attempt ${i + 1} ended_at`)
      closeTo(row.start_rtt, want.start_rtt as number, `attempt ${i + 1} start_rtt`)
      closeTo(row.elapsed_time, want.elapsed_time as number, `attempt ${i + 1} elapsed_time`)
      const addrs = await t.db.query<{ maddr: string }>(
        `SELECT m.maddr FROM hole_punch_attempts_x_multi_addresses x
           JOIN multi_addresses m ON m.id = x.multi_address_id
          WHERE x.hole_punch_attempt_id = $1 ORDER BY m.maddr`,
        [row.id],
      )
      assert.deepEqual(
        addrs.map((a) => a.maddr),
        (want.multi_addresses as Buffer[]).map((b) => multiaddr(new Uint8Array(b)).toString()).sort(),
      )
    }
    assert.deepEqual(
      attempts.map((a) => [a.outcome, a.error, a.direct_dial_error]),
      [
        ['FAILED', 'all dials failed', 'dial tcp4 12.0.0.20:4001: i/o timeout'],
        // Error fields left out (proto2 optional) are stored as NULL, not as "".
        ['SUCCESS', null, null],
      ],
    )

    const latencies = await t.db.query<Record<string, unknown>>(
      `SELECT l.*, p.multi_hash, m.maddr FROM latency_measurements l
         JOIN peers p ON p.id = l.remote_id
         JOIN multi_addresses m ON m.id = l.multi_address_id
        WHERE l.hole_punch_result_id = $1 ORDER BY l.id`,
      [resultId],
    )
    const sentLatencies = message.latency_measurements as Message[]
    assert.deepEqual(
      latencies.map((l) => [l.multi_hash, l.maddr, l.mtype, l.agent_version, l.protocols, l.rtt_errs]),
      [
        [
          relay.id,
          '/ip4/11.0.0.1/tcp/4001',
          'TO_RELAY',
          'go-libp2p/0.35.0',
          ['/libp2p/circuit/relay/0.2.0/hop', '/ipfs/ping/1.0.0'],
          ['', '', 'context deadline exceeded'],
        ],
        [peers.remote.id, relayedTcp, 'TO_REMOTE_THROUGH_RELAY', 'kubo/0.29.0', ['/libp2p/dcutr'], ['', '']],
        [
          peers.remote.id,
          '/ip4/12.0.0.20/tcp/4001',
          'TO_REMOTE_AFTER_HOLE_PUNCH',
          'kubo/0.29.0',
          ['/libp2p/dcutr'],
          ['', ''],
        ],
      ],
    )
    for (const [i, l] of latencies.entries()) {
      const rtts = sentLatencies[i]!.rtts as number[]
      assert.equal((l.rtts as number[]).length, rtts.length)
      for (const [j, rtt] of rtts.entries()) closeTo((l.rtts as number[])[j], rtt, `latency ${i} rtt ${j}`)
    }
    // Aggregates of the successful pings only (the relay's third ping failed).
    assert.equal(Number(latencies[0]!.success_count), 2)
    closeTo(latencies[0]!.rtt_avg, 0.0205, 'relay rtt_avg')
    closeTo(latencies[0]!.rtt_min, 0.02, 'relay rtt_min')
    closeTo(latencies[0]!.rtt_max, 0.021, 'relay rtt_max')

    const mappings = await t.db.query<Record<string, unknown>>(
      `SELECT internal_port, external_port, protocol, addr, addr_network FROM port_mappings
        WHERE hole_punch_result_id = $1 ORDER BY external_port`,
      [resultId],
    )
    assert.deepEqual(
      mappings.map((m) => ({
        ...m,
        internal_port: Number(m.internal_port),
        external_port: Number(m.external_port),
      })),
      message.nat_mappings,
    )

    const ni = await t.db.query<Record<string, unknown>>(
      `SELECT router_login_html, router_login_html_error, supports_ipv6, supports_ipv6_error
         FROM network_information WHERE hole_punch_result_id = $1`,
      [resultId],
    )
    assert.deepEqual(ni, [message.network_information])
  })

  describe('error codes', () => {
    it('missing API key → UNAUTHENTICATED (16), on every RPC', async () => {
      const { message } = await report()
      // proto-loader writes an omitted required string as "".
      await expectStatus(
        grpc.call('Register', { client_id: pid(client), agent_version: 'x' }),
        status.UNAUTHENTICATED,
        /^api_key: missing API key/,
      )
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(client) }),
        status.UNAUTHENTICATED,
        /missing/,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, api_key: '' }),
        status.UNAUTHENTICATED,
        /missing/,
      )
      // Truly absent from the wire (raw bytes without field 13): the same answer.
      const raw = dropField(messageType('TrackHolePunchRequest').serialize(message), 13)
      await expectRejected(() => grpc.callRaw('TrackHolePunch', raw), status.UNAUTHENTICATED, /missing/)
    })

    it('unknown API key → UNAUTHENTICATED (16), on every RPC', async () => {
      const { message } = await report()
      const bad = 'pk_not_a_key_we_issued'
      await expectStatus(
        grpc.call('Register', { client_id: pid(client), agent_version: 'x', api_key: bad }),
        status.UNAUTHENTICATED,
        /unknown API key/,
      )
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(client), api_key: bad }),
        status.UNAUTHENTICATED,
        /unknown API key/,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, api_key: bad }),
        status.UNAUTHENTICATED,
        /unknown API key/,
      )
    })

    it('revoked API key → PERMISSION_DENIED (7), on every RPC', async () => {
      const carol = await t.addKey('carol')
      const host = await newPeer()
      await grpc.call('Register', { client_id: pid(host), agent_version: 'x', api_key: carol })
      await revokeApiKey(t.db, carol)
      const { message } = await report({ client: host, apiKey: carol })
      await expectStatus(
        grpc.call('Register', { client_id: pid(host), agent_version: 'x', api_key: carol }),
        status.PERMISSION_DENIED,
        /revoked/,
      )
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(host), api_key: carol }),
        status.PERMISSION_DENIED,
        /revoked/,
      )
      await expectRejected(() => grpc.call('TrackHolePunch', message), status.PERMISSION_DENIED, /revoked/)
    })

    it('host registered under another key → PERMISSION_DENIED (7), on every RPC', async () => {
      const bob = await t.addKey('bob')
      const { message } = await report({ apiKey: bob })
      await expectStatus(
        grpc.call('Register', { client_id: pid(client), agent_version: 'x', api_key: bob }),
        status.PERMISSION_DENIED,
        /^client_id: .*another API key/,
      )
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(client), api_key: bob }),
        status.PERMISSION_DENIED,
        /^host_id: .*another API key/,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', message),
        status.PERMISSION_DENIED,
        /^client_id: .*another API key/,
      )
    })

    it('unregistered host → FAILED_PRECONDITION (9)', async () => {
      const stranger = await newPeer()
      const { message } = await report({ client: stranger })
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(stranger), api_key: key }),
        status.FAILED_PRECONDITION,
        /^host_id: .*not registered/,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', message),
        status.FAILED_PRECONDITION,
        /^client_id: .*not registered/,
      )
    })

    it('malformed peer ID bytes → INVALID_ARGUMENT (3) naming the field', async () => {
      const junk = Buffer.from([0x12, 0x20, 0x01])
      const err = await expectStatus(
        grpc.call('Register', { client_id: junk, agent_version: 'x', api_key: key }),
        status.INVALID_ARGUMENT,
        /^client_id: invalid peer ID bytes 0x122001/,
      )
      // What a grpc-js caller sees verbatim: the field name leads, its ':' still escaped (see statusMessage).
      assert.match(err.details, /^client_id(:|%3A) /)
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: junk, api_key: key }),
        status.INVALID_ARGUMENT,
        /^host_id: /,
      )
      await expectStatus(
        grpc.call('GetAddrInfo', { host_id: pid(client), all_host_ids: [pid(client), junk], api_key: key }),
        status.INVALID_ARGUMENT,
        /^all_host_ids\[1\]: /,
      )
      const { message } = await report()
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, client_id: junk }),
        status.INVALID_ARGUMENT,
        /^client_id: /,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, remote_id: junk }),
        status.INVALID_ARGUMENT,
        /^remote_id: /,
      )
      const latencies = (message.latency_measurements as Message[]).map((l, i) =>
        i === 1 ? { ...l, remote_id: junk } : l,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, latency_measurements: latencies }),
        status.INVALID_ARGUMENT,
        /^latency_measurements\[1\]\.remote_id: /,
      )
    })

    it('malformed multiaddr bytes → INVALID_ARGUMENT (3) naming the field', async () => {
      const junk = Buffer.from([0xff, 0xff, 0xff])
      const { message } = await report()
      await expectRejected(
        () =>
          grpc.call('TrackHolePunch', {
            ...message,
            remote_multi_addresses: [...(message.remote_multi_addresses as Buffer[]), junk],
          }),
        status.INVALID_ARGUMENT,
        /^remote_multi_addresses\[2\]: /,
      )
      const attempts = (message.hole_punch_attempts as Message[]).map((a, i) =>
        i === 1 ? { ...a, multi_addresses: [junk] } : a,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, hole_punch_attempts: attempts }),
        status.INVALID_ARGUMENT,
        /^hole_punch_attempts\[1\]\.multi_addresses\[0\]: /,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, listen_multi_addresses: [junk] }),
        status.INVALID_ARGUMENT,
        /^listen_multi_addresses\[0\]: /,
      )
    })

    it('required fields missing from the wire → INVALID_ARGUMENT (3) "required field is missing"', async () => {
      const { message } = await report()
      const bytes = messageType('TrackHolePunchRequest').serialize(message)
      for (const [fieldNo, name] of [
        [10, 'outcome'],
        [4, 'connect_started_at'],
        [2, 'remote_id'],
        [8, 'has_direct_conns'],
      ] as const) {
        await expectRejected(
          () => grpc.callRaw('TrackHolePunch', dropField(bytes, fieldNo)),
          status.INVALID_ARGUMENT,
          new RegExp(`^${name}: required field is missing`),
        )
      }
      // In a nested message: the first attempt without ended_at (field 3).
      const attempt = dropField(
        messageType('HolePunchAttempt').serialize((message.hole_punch_attempts as Message[])[0]!),
        3,
      )
      const withBrokenAttempt = appendBytesField(dropField(bytes, 6), 6, attempt)
      await expectRejected(
        () => grpc.callRaw('TrackHolePunch', withBrokenAttempt),
        status.INVALID_ARGUMENT,
        /^hole_punch_attempts\[0\]\.ended_at: required field is missing/,
      )
      const register = messageType('RegisterRequest').serialize({
        client_id: pid(client),
        agent_version: 'x',
        api_key: key,
      })
      await expectStatus(
        grpc.callRaw('Register', dropField(register, 2)),
        status.INVALID_ARGUMENT,
        /^agent_version: required field is missing/,
      )
      const getAddrInfo = messageType('GetAddrInfoRequest').serialize({ host_id: pid(client), api_key: key })
      await expectStatus(
        grpc.callRaw('GetAddrInfo', dropField(getAddrInfo, 1)),
        status.INVALID_ARGUMENT,
        /^host_id: required field is missing/,
      )
    })

    it('required fields omitted in a grpc-js request travel as defaults: connect_started_at 0 → INVALID_ARGUMENT (3)', async () => {
      const { message } = await report()
      const { connect_started_at: _, ...withoutStart } = message
      await expectRejected(
        () => grpc.call('TrackHolePunch', withoutStart),
        status.INVALID_ARGUMENT,
        /^connect_started_at: timestamp 0 is before 2015/,
      )
    })

    it('outcome omitted in a grpc-js request travels as UNKNOWN (0), which the server rejects naming outcome', async () => {
      // protobufjs writes an omitted required enum as its default, UNKNOWN: not a result.
      const { peers, message } = await report()
      const { outcome: _, ...withoutOutcome } = message
      await expectRejected(
        () => grpc.call('TrackHolePunch', withoutOutcome),
        status.INVALID_ARGUMENT,
        /^outcome: UNKNOWN is not an outcome/,
      )
      const rows = await t.db.query(
        'SELECT r.outcome FROM hole_punch_results r JOIN peers p ON p.id = r.remote_id WHERE p.multi_hash = $1',
        [peers.remote.id],
      )
      assert.deepEqual(rows, [])
    })

    it('an outcome number unknown to the closed proto2 enum → INVALID_ARGUMENT (3) naming outcome', async () => {
      const { message } = await report()
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, outcome: 42 }),
        status.INVALID_ARGUMENT,
        /^outcome: required field is missing/,
      )
    })

    it('timestamps out of order → INVALID_ARGUMENT (3) naming the field', async () => {
      const { message } = await report()
      const start = BigInt(message.connect_started_at as string)
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, connect_ended_at: String(start - 1n) }),
        status.INVALID_ARGUMENT,
        /^connect_ended_at: out of order/,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, ended_at: String(start + 1n) }),
        status.INVALID_ARGUMENT,
        /^ended_at: out of order/,
      )
      const attempts = (message.hole_punch_attempts as Message[]).map((a, i) =>
        i === 0 ? { ...a, ended_at: String(BigInt(a.opened_at as string) - 1n) } : a,
      )
      await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, hole_punch_attempts: attempts }),
        status.INVALID_ARGUMENT,
        /^hole_punch_attempts\[0\]\.(started_at|ended_at): out of order/,
      )
    })

    it('oversized message (an error string over the 4 MiB limit) → INVALID_ARGUMENT (3)', async () => {
      const { message } = await report()
      const err = await expectRejected(
        () => grpc.call('TrackHolePunch', { ...message, error: 'x'.repeat(LIMITS.maxMessageBytes + 1000) }),
        status.INVALID_ARGUMENT,
        /limit/,
      )
      assert.match(statusMessage(err), new RegExp(String(LIMITS.maxMessageBytes)))
    })
  })
})

describe('grpc-js against a PostgreSQL that goes down and comes back', () => {
  let cluster: Awaited<ReturnType<typeof startPostgres>> | undefined
  let db: Database | undefined
  let t: TestServer | undefined
  let grpc: GrpcJsClient | undefined
  let clusterStartMs = 0

  before(async () => {
    const t0 = Date.now()
    cluster = await startPostgres()
    clusterStartMs = Date.now() - t0
    db = await openDatabase({ databaseUrl: cluster.url, poolSize: 3 })
    await migrate(db)
    t = await startTestServer(db)
    grpc = grpcJsClient(`127.0.0.1:${t.server.grpcPort}`)
  })
  after(async () => {
    grpc?.close()
    await t?.stop()
    await db?.close()
    await cluster?.stop()
  })

  it('answers UNAVAILABLE (14) while the database is down and recovers by itself', async (ctx) => {
    ctx.diagnostic(`separate PostgreSQL cluster started in ${clusterStartMs} ms`)
    const key = await t!.addKey('alice')
    const host = await newPeer()
    const register = () =>
      grpc!.call('Register', { client_id: pid(host), agent_version: 'punchr/go-client/0.7.0', api_key: key })
    const first = await register()
    assert.match(first.db_peer_id as string, /^\d+$/)

    const down = Date.now()
    await cluster!.stopServer()
    await expectStatus(register(), status.UNAVAILABLE, /database unavailable/)
    await expectStatus(
      grpc!.call('GetAddrInfo', { host_id: pid(host), api_key: key }),
      status.UNAVAILABLE,
      /database unavailable/,
    )
    const health = await fetch(`${t!.httpUrl}/healthz`)
    assert.equal(health.status, 503)

    await cluster!.startServer()
    ctx.diagnostic(`database down for ${Date.now() - down} ms`)
    // The pool dropped its dead connections and opens new ones: the very next call works.
    const again = await register()
    assert.equal(again.db_peer_id, first.db_peer_id)
  })
})

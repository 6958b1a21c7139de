import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { runCommand } from '../../src/lab/command.js'
import { goClientBinary } from '../../src/lab/peers/go-build.js'
import { parsePeerIdBytes } from '../../src/lib/peer-id.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer, type TestPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { startTestServer, type TestServer } from '../support/server.js'

/**
 * A Go punchr client against our server: test/interop/go-client, with code generated from
 * proto/punchr.proto by protoc-gen-go and protoc-gen-go-grpc and grpc-go on the wire (built and
 * cached by src/lab/peers/go-build.ts). It registers, gets the remote the "honeypot" saw, reports
 * full TrackHolePunchRequests and makes the calls that must fail; it prints every report as sent
 * (protojson), and the stored rows are compared with exactly that.
 */

/** What go-client prints (protojson with proto field names: bytes base64, uint64 strings). */
interface GoClientOutput {
  hostId: string
  dbPeerId: string | number
  addrInfo: { remote_id: string; multi_addresses: string[]; protocols?: number[] }
  reports: Report[]
  errors: { case: string; code: string; message: string }[]
  grpcVersion: string
}

interface Report {
  client_id: string
  remote_id: string
  remote_multi_addresses?: string[]
  connect_started_at: string
  connect_ended_at: string
  hole_punch_attempts?: {
    opened_at: string
    started_at?: string
    ended_at: string
    start_rtt?: number
    elapsed_time: number
    outcome: string
    error?: string
    direct_dial_error?: string
    multi_addresses?: string[]
  }[]
  open_multi_addresses?: string[]
  has_direct_conns: boolean
  error?: string
  outcome: string
  ended_at: string
  listen_multi_addresses?: string[]
  protocols?: number[]
  latency_measurements?: {
    remote_id: string
    agent_version: string
    protocols?: string[]
    multi_address: string
    rtts?: number[]
    rtt_errs?: string[]
    mtype: string
  }[]
  network_information?: {
    router_login_html?: string
    router_login_html_error?: string
    supports_ipv6?: boolean
    supports_ipv6_error?: string
  }
  nat_mappings?: {
    internal_port: number
    external_port: number
    protocol: string
    addr: string
    addr_network: string
  }[]
}

/** The status each failing call must get (docs/ARCHITECTURE.md, "The API"), and its field path. */
const EXPECTED_ERRORS: Record<string, [code: string, messageStart?: string]> = {
  'no-remote-left': ['NotFound'],
  'register-unknown-key': ['Unauthenticated'],
  'get-addr-info-unknown-key': ['Unauthenticated'],
  'track-unknown-key': ['Unauthenticated'],
  'register-host-of-other-key': ['PermissionDenied', 'client_id'],
  'get-addr-info-unregistered-host': ['FailedPrecondition', 'host_id'],
  'track-unregistered-host': ['FailedPrecondition', 'client_id'],
  'register-malformed-peer-id': ['InvalidArgument', 'client_id'],
  'track-malformed-remote-id': ['InvalidArgument', 'remote_id'],
  'track-malformed-multiaddr': ['InvalidArgument', 'remote_multi_addresses[0]'],
  'track-timestamp-in-seconds': ['InvalidArgument', 'connect_started_at'],
  // Never reaches the server: Go's proto2 marshaller refuses a message without a required field
  // (what protobuf-es would send, and our server rejects with INVALID_ARGUMENT; test/integration).
  'register-missing-agent-version': ['Internal', 'grpc: error while marshaling'],
}

const bytes = (b64: string) => Uint8Array.from(Buffer.from(b64, 'base64'))
const ma = (b64: string) => multiaddr(bytes(b64)).toString()
const peer = (b64: string) => parsePeerIdBytes(bytes(b64))
/** A timestamp as stored (µs; the wire's ns are truncated) → the same µs as a decimal string. */
const micros = (ns: string) => (BigInt(ns) / 1000n).toString()
/** SQL: a timestamptz column as whole µs since the epoch, text (exact on PGlite and PostgreSQL). */
const us = (column: string) => `floor(extract(epoch from ${column}) * 1000000)::bigint::text`
const strip = (prefix: string, name: string) => name.replace(prefix, '')

describeEachDatabase('Go gRPC client (grpc-go, code generated from proto/punchr.proto)', (getDb) => {
  let t: TestServer
  let out: GoClientOutput
  let remote: TestPeer
  let relayAddrs: string[]

  before(async () => {
    const binary = await goClientBinary()
    t = await startTestServer(getDb())
    const key = await t.addKey('go-client')
    const otherKey = await t.addKey('someone-else')
    remote = await newPeer()
    relayAddrs = await seenByHoneypot(getDb(), remote, { relays: 2 })
    const { stdout } = await runCommand(
      binary,
      ['--server', `127.0.0.1:${t.server.grpcPort}`, '--api-key', key, '--other-api-key', otherKey],
      { timeoutMs: 60_000 },
    )
    out = JSON.parse(stdout.trim()) as GoClientOutput
  })
  after(() => t?.stop())

  it('registers a fresh host with its agent version and protocols', async () => {
    const db = getDb()
    const [row] = await db.query<{ id: string | number; agent_version: string; protocols: string[] }>(
      'SELECT p.id, p.agent_version, p.protocols FROM peers p JOIN clients c ON c.peer_id = p.id WHERE p.multi_hash = $1',
      [out.hostId],
    )
    assert.ok(row, `no client host ${out.hostId}`)
    assert.equal(String(row.id), String(out.dbPeerId))
    assert.equal(row.agent_version, 'punchr/go-client/interop transports=tcp')
    assert.deepEqual([...row.protocols].sort(), ['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/libp2p/dcutr'])
  })

  it('GetAddrInfo hands it the remote the honeypot saw, with all its relay addresses', () => {
    assert.equal(peer(out.addrInfo.remote_id), remote.id)
    assert.deepEqual(out.addrInfo.multi_addresses.map(ma).sort(), [...relayAddrs].sort())
    for (const code of out.addrInfo.protocols ?? []) assert.ok([4, 41, 6, 460, 461].includes(code))
  })

  it('stores every field of both reports as sent, the retried one once', async () => {
    const db = getDb()
    const results = await db.query<Record<string, unknown>>(
      `SELECT r.id, rp.multi_hash AS remote, ${us('r.connect_started_at')} AS connect_started_at,
              ${us('r.connect_ended_at')} AS connect_ended_at, ${us('r.ended_at')} AS ended_at,
              r.has_direct_conns, r.error, r.outcome, r.protocols, r.attempt_count
         FROM hole_punch_results r JOIN clients c ON c.id = r.client_id JOIN peers cp ON cp.id = c.peer_id
         JOIN peers rp ON rp.id = r.remote_id
        WHERE cp.multi_hash = $1 ORDER BY r.connect_started_at`,
      [out.hostId],
    )
    assert.equal(out.reports.length, 2)
    // Three TrackHolePunch calls were accepted (the first report twice); rejected ones wrote nothing.
    assert.equal(results.length, 2, JSON.stringify(results))
    for (const [i, sent] of out.reports.entries()) {
      const row = results[i]!
      const id = row.id
      const what = `report ${i}`
      assert.equal(peer(sent.client_id), out.hostId)
      assert.deepEqual(
        {
          remote: row.remote,
          connect_started_at: row.connect_started_at,
          connect_ended_at: row.connect_ended_at,
          ended_at: row.ended_at,
          has_direct_conns: row.has_direct_conns,
          error: row.error,
          outcome: row.outcome,
          protocols: row.protocols,
          attempt_count: Number(row.attempt_count),
        },
        {
          remote: peer(sent.remote_id),
          connect_started_at: micros(sent.connect_started_at),
          connect_ended_at: micros(sent.connect_ended_at),
          ended_at: micros(sent.ended_at),
          has_direct_conns: sent.has_direct_conns,
          error: sent.error ?? null,
          outcome: strip('HOLE_PUNCH_OUTCOME_', sent.outcome),
          protocols: sent.protocols ?? [],
          attempt_count: sent.hole_punch_attempts?.length ?? 0,
        },
        what,
      )

      const links = await db.query<{ relationship: string; maddr: string }>(
        `SELECT x.relationship, m.maddr FROM hole_punch_results_x_multi_addresses x
           JOIN multi_addresses m ON m.id = x.multi_address_id WHERE x.hole_punch_result_id = $1`,
        [id],
      )
      const linked = (rel: string) =>
        links
          .filter((l) => l.relationship === rel)
          .map((l) => l.maddr)
          .sort()
      assert.deepEqual(linked('INITIAL'), (sent.remote_multi_addresses ?? []).map(ma).sort(), what)
      assert.deepEqual(linked('FINAL'), (sent.open_multi_addresses ?? []).map(ma).sort(), what)
      const listen = await db.query<{ maddr: string }>(
        `SELECT m.maddr FROM hole_punch_results_x_listen_multi_addresses x
           JOIN multi_addresses m ON m.id = x.multi_address_id WHERE x.hole_punch_result_id = $1`,
        [id],
      )
      assert.deepEqual(
        listen.map((l) => l.maddr).sort(),
        (sent.listen_multi_addresses ?? []).map(ma).sort(),
        what,
      )

      const attempts = await db.query<Record<string, unknown>>(
        `SELECT a.id, a.attempt_number, ${us('a.opened_at')} AS opened_at, ${us('a.started_at')} AS started_at,
                ${us('a.ended_at')} AS ended_at, a.start_rtt, a.elapsed_time, a.outcome, a.error, a.direct_dial_error,
                coalesce((SELECT array_agg(m.maddr ORDER BY m.maddr) FROM hole_punch_attempts_x_multi_addresses x
                  JOIN multi_addresses m ON m.id = x.multi_address_id WHERE x.hole_punch_attempt_id = a.id), '{}') AS addrs
           FROM hole_punch_attempts a WHERE a.hole_punch_result_id = $1 ORDER BY a.attempt_number`,
        [id],
      )
      assert.deepEqual(
        attempts.map(({ id: _, ...a }) => ({ ...a, attempt_number: Number(a.attempt_number) })),
        (sent.hole_punch_attempts ?? []).map((a, n) => ({
          attempt_number: n + 1,
          opened_at: micros(a.opened_at),
          started_at: a.started_at === undefined ? null : micros(a.started_at),
          ended_at: micros(a.ended_at),
          // go-client sends only values exact in float32, so the stored double is the same number.
          start_rtt: a.start_rtt ?? null,
          elapsed_time: a.elapsed_time,
          outcome: strip('HOLE_PUNCH_ATTEMPT_OUTCOME_', a.outcome),
          error: a.error ?? null,
          direct_dial_error: a.direct_dial_error ?? null,
          addrs: (a.multi_addresses ?? []).map(ma).sort(),
        })),
        what,
      )

      const latencies = await db.query<Record<string, unknown>>(
        `SELECT p.multi_hash AS remote, m.maddr, l.mtype, l.agent_version, l.protocols, l.rtts, l.rtt_errs,
                l.success_count, l.rtt_avg, l.rtt_min, l.rtt_max
           FROM latency_measurements l JOIN peers p ON p.id = l.remote_id JOIN multi_addresses m ON m.id = l.multi_address_id
          WHERE l.hole_punch_result_id = $1 ORDER BY l.id`,
        [id],
      )
      assert.deepEqual(
        latencies.map((l) => ({
          ...l,
          protocols: [...(l.protocols as string[])].sort(),
          success_count: Number(l.success_count),
        })),
        (sent.latency_measurements ?? []).map((l) => {
          const ok = (l.rtts ?? []).filter((_, j) => (l.rtt_errs ?? [])[j] === '')
          return {
            remote: peer(l.remote_id),
            maddr: ma(l.multi_address),
            mtype: l.mtype,
            agent_version: l.agent_version,
            protocols: [...(l.protocols ?? [])].sort(),
            rtts: l.rtts ?? [],
            rtt_errs: l.rtt_errs ?? [],
            // Aggregates over the successful pings only (no -1 sentinels: docs/PROTOCOL.md, "Storage").
            success_count: ok.length,
            rtt_avg: ok.length === 0 ? null : ok.reduce((s, x) => s + x, 0) / ok.length,
            rtt_min: ok.length === 0 ? null : Math.min(...ok),
            rtt_max: ok.length === 0 ? null : Math.max(...ok),
          }
        }),
        what,
      )

      const mappings = await db.query(
        'SELECT internal_port, external_port, protocol, addr, addr_network FROM port_mappings WHERE hole_punch_result_id = $1 ORDER BY id',
        [id],
      )
      assert.deepEqual(mappings, sent.nat_mappings ?? [], what)

      const info = await db.query(
        `SELECT router_login_html, router_login_html_error, supports_ipv6, supports_ipv6_error
           FROM network_information WHERE hole_punch_result_id = $1`,
        [id],
      )
      const ni = sent.network_information
      assert.deepEqual(
        info,
        ni === undefined
          ? []
          : [
              {
                router_login_html: ni.router_login_html ?? null,
                router_login_html_error: ni.router_login_html_error ?? null,
                supports_ipv6: ni.supports_ipv6 ?? null,
                supports_ipv6_error: ni.supports_ipv6_error ?? null,
              },
            ],
        what,
      )
    }
    // The full report really is full: every optional part present at least once.
    const [full] = out.reports
    assert.ok(full!.network_information?.router_login_html !== undefined)
    assert.equal(full!.nat_mappings?.length, 2)
    assert.deepEqual(full!.latency_measurements?.map((l) => l.mtype).sort(), [
      'TO_RELAY',
      'TO_REMOTE_AFTER_HOLE_PUNCH',
      'TO_REMOTE_THROUGH_RELAY',
    ])
    const first = full!.hole_punch_attempts![0]!
    for (const field of ['started_at', 'start_rtt', 'error', 'direct_dial_error', 'multi_addresses'] as const)
      assert.ok(first[field] !== undefined, field)
  })

  it('gets the documented gRPC status codes for bad input', (t) => {
    const got = Object.fromEntries(out.errors.map((e) => [e.case, e]))
    for (const e of out.errors) t.diagnostic(`${e.case}: ${e.code} ${e.message}`)
    assert.deepEqual(Object.keys(got).sort(), Object.keys(EXPECTED_ERRORS).sort())
    for (const [name, [code, field]] of Object.entries(EXPECTED_ERRORS)) {
      const e = got[name]!
      assert.equal(e.code, code, `${name}: ${e.code} ${e.message}`)
      if (field !== undefined) assert.ok(e.message.startsWith(field), `${name}: ${e.message}`)
    }
  })

  it('talks grpc-go', () => {
    assert.match(out.grpcVersion, /^1\.\d+\.\d+/)
  })
})

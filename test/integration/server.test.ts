import assert from 'node:assert/strict'
import { after, before, beforeEach, it } from 'node:test'
import { create, toBinary } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { multiaddr } from '@multiformats/multiaddr'
import { revokeApiKey } from '../../src/db/authorizations.js'
import type { Database } from '../../src/db/database.js'
import {
  HolePunchAttemptSchema,
  type HolePunchOutcome,
  NatBehaviourSchema,
  NatMappingBehaviour,
  RegisterRequestSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import { describeEachDatabase } from '../support/databases.js'
import { fullReport, maBytes, newPeer, type TestPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { appendBytesField, dropField, postConnect } from '../support/raw-requests.js'
import { startTestServer, type TestServer } from '../support/server.js'
import { until } from '../support/until.js'

async function expectCode(
  promise: Promise<unknown>,
  code: Code,
  messagePart?: string,
): Promise<ConnectError> {
  const err = await promise.then(
    () => assert.fail(`expected ${Code[code]}, got success`),
    (e: unknown) => e,
  )
  assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`)
  assert.equal(Code[err.code], Code[code], err.message)
  if (messagePart !== undefined) assert.match(err.rawMessage, new RegExp(messagePart))
  return err
}

async function count(db: Database, table: string): Promise<number> {
  const rows = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`)
  return Number(rows[0]!.n)
}

describeEachDatabase('punchr server', (getDb) => {
  let t: TestServer
  let key: string
  let client: TestPeer
  let remote: TestPeer
  let relay: TestPeer

  before(async () => {
    t = await startTestServer(getDb())
    key = await t.addKey('alice')
    ;[client, remote, relay] = await Promise.all([newPeer(), newPeer(), newPeer()])
    await t.client.register({
      clientId: client.bytes,
      agentVersion: 'punchr/ts-client/0.7.0 transports=tcp,quic',
      protocols: ['/ipfs/ping/1.0.0'],
      apiKey: key,
    })
  })
  after(() => t.stop())

  it('Register returns the host peer id and is idempotent for the same key', async () => {
    const first = await t.client.register({
      clientId: client.bytes,
      agentVersion: 'punchr/ts-client/0.7.0 transports=tcp,quic',
      apiKey: key,
    })
    const again = await t.client.register({
      clientId: client.bytes,
      agentVersion: 'punchr/ts-client/0.7.1 transports=tcp,quic',
      apiKey: key,
    })
    assert.equal(first.dbPeerId, again.dbPeerId)
    const rows = await t.db.query<{ agent_version: string }>(
      'SELECT agent_version FROM peers WHERE id = $1',
      [Number(first.dbPeerId)],
    )
    assert.equal(rows[0]!.agent_version, 'punchr/ts-client/0.7.1 transports=tcp,quic')
  })

  it('Register refuses unknown keys (UNAUTHENTICATED) and a host bound to another key (PERMISSION_DENIED)', async () => {
    await expectCode(
      t.client.register({ clientId: client.bytes, agentVersion: 'x', apiKey: 'pk_nope' }),
      Code.Unauthenticated,
      'unknown API key',
    )
    await expectCode(
      t.client.register({ clientId: client.bytes, agentVersion: 'x', apiKey: '' }),
      Code.Unauthenticated,
      'missing',
    )
    const bob = await t.addKey('bob')
    await expectCode(
      t.client.register({ clientId: client.bytes, agentVersion: 'x', apiKey: bob }),
      Code.PermissionDenied,
      'another API key',
    )
  })

  it('Register rejects malformed peer IDs and missing required fields with INVALID_ARGUMENT naming the field', async () => {
    await expectCode(
      t.client.register({ clientId: new Uint8Array([1, 2, 3]), agentVersion: 'x', apiKey: key }),
      Code.InvalidArgument,
      '^client_id',
    )
    // protobuf-es will not encode a message without a required field; a raw client can.
    const withoutAgent = dropField(
      toBinary(
        RegisterRequestSchema,
        create(RegisterRequestSchema, { clientId: client.bytes, agentVersion: 'x', apiKey: key }),
      ),
      2,
    )
    const res = await postConnect(t.httpUrl, 'Register', withoutAgent)
    assert.equal(res.code, 'invalid_argument')
    assert.match(res.message ?? '', /^agent_version: required field is missing/)
  })

  it('Register refuses NUL in its own agent version and protocols, naming the field', async () => {
    const host = await newPeer()
    await expectCode(
      t.client.register({ clientId: host.bytes, agentVersion: 'punchr/ts-client/0.1.0\0', apiKey: key }),
      Code.InvalidArgument,
      '^agent_version: contains NUL',
    )
    await expectCode(
      t.client.register({
        clientId: host.bytes,
        agentVersion: 'x',
        protocols: ['/ok', '/b\0d'],
        apiKey: key,
      }),
      Code.InvalidArgument,
      '^protocols\\[1\\]: contains NUL',
    )
  })

  it('a revoked key gets PERMISSION_DENIED as soon as the server hears of the revocation', async () => {
    const carol = await t.addKey('carol')
    const host = await newPeer()
    // Checked once: from now on the server answers for carol from its cache.
    await t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: carol })
    await revokeApiKey(t.db, carol)
    // The NOTIFY of migration 0006 empties the cache: within moments, far below the minute a
    // cached key would otherwise live (src/server/api-key-cache.ts).
    await until(
      'the revocation to reach the server',
      () =>
        t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: carol }).then(
          () => false,
          () => true,
        ),
      3_000,
    )
    await expectCode(
      t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: carol }),
      Code.PermissionDenied,
      'revoked',
    )
    await expectCode(
      t.client.getAddrInfo({ hostId: host.bytes, apiKey: carol }),
      Code.PermissionDenied,
      'revoked',
    )
  })

  it('GetAddrInfo answers NOT_FOUND when no remote is eligible', async () => {
    await t.db.query('DELETE FROM remote_candidates')
    await expectCode(
      t.client.getAddrInfo({ hostId: client.bytes, allHostIds: [client.bytes], apiKey: key }),
      Code.NotFound,
    )
  })

  it('GetAddrInfo hands out a DCUtR-capable remote with its relay addrs, and not the same pair again to the same client', async () => {
    await t.db.query('DELETE FROM remote_candidates')
    const addrs = await seenByHoneypot(t.db, remote, { relays: [relay] })
    const res = await t.client.getAddrInfo({ hostId: client.bytes, allHostIds: [client.bytes], apiKey: key })
    assert.deepEqual(res.remoteId, remote.bytes)
    assert.deepEqual(
      res.multiAddresses.map((b) => multiaddr(b).toString()),
      addrs,
    )
    for (const code of res.protocols) assert.ok([4, 6, 41, 461].includes(code))
    // The (remote, relay addr) pair was tried by this client: nothing left for it.
    await expectCode(
      t.client.getAddrInfo({ hostId: client.bytes, allHostIds: [client.bytes], apiKey: key }),
      Code.NotFound,
    )
  })

  it('GetAddrInfo serves a dual-stack client only filters of an IP version its remote showed', async () => {
    await t.db.query('DELETE FROM remote_candidates')
    const dual = await newPeer()
    await t.client.register({
      clientId: dual.bytes,
      agentVersion: 'punchr/ts-client/0.8.0 transports=tcp,quic ip=4,6',
      apiKey: key,
    })
    const ask = () => t.client.getAddrInfo({ hostId: dual.bytes, allHostIds: [dual.bytes], apiKey: key })
    const served = async (connectionAddr: (i: number) => string) => {
      const remotes = await Promise.all(Array.from({ length: 30 }, () => newPeer()))
      for (const [i, r] of remotes.entries())
        await seenByHoneypot(t.db, r, { connectionAddr: connectionAddr(i) })
      const filters: number[][] = []
      for (let i = 0; i < remotes.length; i++) filters.push((await ask()).protocols)
      await t.db.query('DELETE FROM remote_candidates')
      return filters
    }
    const toV4 = await served((i) => `/ip4/11.0.${i}.9/tcp/4001`)
    assert.ok(
      toV4.every((f) => !f.includes(41)),
      `an ip6 filter for an IPv4-only remote: ${JSON.stringify(toV4)}`,
    )
    assert.ok(
      toV4.some((f) => f.includes(4)),
      'ip4 filters are served',
    )
    const toV6 = await served((i) => `/ip6/2600:${i + 1}::9/tcp/4001`)
    assert.ok(
      toV6.every((f) => !f.includes(4)),
      `an ip4 filter for an IPv6-only remote: ${JSON.stringify(toV6)}`,
    )
    assert.ok(
      toV6.some((f) => f.includes(41)),
      'ip6 filters are served',
    )
  })

  it('a punch that reached a remote over IPv6 adds IPv6 to what its filters are drawn among', async () => {
    const dual = await newPeer()
    await t.client.register({
      clientId: dual.bytes,
      agentVersion: 'punchr/ts-client/0.8.0 transports=tcp,quic ip=4,6',
      apiKey: key,
    })
    // Seen over IPv4 only: no ip6 filter for it (the test above).
    const target = await newPeer()
    await seenByHoneypot(t.db, target, { connectionAddr: '/ip4/11.0.7.9/tcp/4001' })
    const versions = async () =>
      (
        await t.db.query<{ ip_versions: number[] }>(
          `SELECT rc.ip_versions FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id WHERE p.multi_hash = $1`,
          [target.id],
        )
      )[0]!.ip_versions.map(Number)
    assert.deepEqual(await versions(), [4])
    // An unfiltered round whose CONNECT carried a public IPv6 address (punched), and a private one.
    const report = fullReport({ client: dual, remote: target, relay, apiKey: key })
    report.holePunchAttempts[0]!.multiAddresses = [
      maBytes('/ip6/fd00:7::9/tcp/4001'),
      maBytes('/ip6/2600:7::9/tcp/4001'),
      maBytes('/ip4/11.0.7.9/tcp/4001'),
    ]
    await t.client.trackHolePunch(report)
    assert.deepEqual(await versions(), [4, 6])
    await t.db.query('DELETE FROM remote_candidates')
  })

  it('GetAddrInfo refuses an unregistered host (FAILED_PRECONDITION) and a foreign host (PERMISSION_DENIED)', async () => {
    const stranger = await newPeer()
    await expectCode(
      t.client.getAddrInfo({ hostId: stranger.bytes, apiKey: key }),
      Code.FailedPrecondition,
      'not registered',
    )
    const dave = await t.addKey('dave')
    await expectCode(t.client.getAddrInfo({ hostId: client.bytes, apiKey: dave }), Code.PermissionDenied)
  })

  describeReports()

  function describeReports() {
    let report: TrackHolePunchRequest
    beforeEach(() => {
      report = fullReport({ client, remote, relay, apiKey: key })
    })

    it('TrackHolePunch stores a report whose texts a remote filled with NUL: without the NUL, and says so', async () => {
      const evil = `evil\0agent/1.0`
      report.latencyMeasurements[1]!.agentVersion = evil
      report.latencyMeasurements[1]!.protocols = ['/ipfs/ping/1.0.0', '/x\0y']
      report.holePunchAttempts[0]!.error = `dial to ${evil} failed`
      report.error = 'remote\0said no'
      await t.client.trackHolePunch(report)
      const [result] = await t.db.query<{ id: string | number; error: string; quirks: string[] }>(
        'SELECT id, error, quirks FROM hole_punch_results ORDER BY id DESC LIMIT 1',
      )
      assert.equal(result!.error, 'remotesaid no')
      assert.deepEqual(result!.quirks, ['remote-nul-in-text'])
      const latencies = await t.db.query<{ agent_version: string; protocols: string[] }>(
        `SELECT agent_version, protocols FROM latency_measurements WHERE hole_punch_result_id = $1 AND mtype = 'TO_REMOTE_AFTER_HOLE_PUNCH'`,
        [result!.id],
      )
      assert.deepEqual(latencies[0], {
        agent_version: 'evilagent/1.0',
        protocols: ['/ipfs/ping/1.0.0', '/xy'],
      })
      const [attempt] = await t.db.query<{ error: string }>(
        'SELECT error FROM hole_punch_attempts WHERE hole_punch_result_id = $1 ORDER BY attempt_number LIMIT 1',
        [result!.id],
      )
      assert.equal(attempt!.error, 'dial to evilagent/1.0 failed')
    })

    it('TrackHolePunch stores a report with NUL in a ping error and in an address a remote advertised', async () => {
      report.latencyMeasurements[0]!.rttErrs = ['', 'time\0out', '']
      report.holePunchAttempts[0]!.multiAddresses = [maBytes('/dns4/evil\0host/tcp/4001')]
      report.endedAt += 3n // distinct from the other tests' reports
      await t.client.trackHolePunch(report)
      const [result] = await t.db.query<{ id: string | number; quirks: string[] }>(
        'SELECT id, quirks FROM hole_punch_results ORDER BY id DESC LIMIT 1',
      )
      assert.deepEqual(result!.quirks, ['remote-nul-in-text'])
      const [latency] = await t.db.query<{ rtt_errs: string[] }>(
        `SELECT rtt_errs FROM latency_measurements WHERE hole_punch_result_id = $1 AND mtype = 'TO_RELAY'`,
        [result!.id],
      )
      assert.deepEqual(latency!.rtt_errs, ['', 'timeout', ''])
      const addresses = await t.db.query<{ maddr: string }>(
        `SELECT ma.maddr FROM hole_punch_attempts a
         JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = a.id
         JOIN multi_addresses ma ON ma.id = x.multi_address_id
         WHERE a.hole_punch_result_id = $1 AND a.attempt_number = 1`,
        [result!.id],
      )
      assert.deepEqual(
        addresses.map((a) => a.maddr),
        ['/dns4/evilhost/tcp/4001'],
      )
    })

    it('TrackHolePunch stores a full report whole', async () => {
      const before = await count(t.db, 'hole_punch_results')
      await t.client.trackHolePunch(report)
      assert.equal(await count(t.db, 'hole_punch_results'), before + 1)
      const [result] = await t.db.query<Record<string, unknown>>(
        `SELECT r.*, p.multi_hash FROM hole_punch_results r JOIN peers p ON p.id = r.remote_id ORDER BY r.id DESC LIMIT 1`,
      )
      assert.equal(result!.multi_hash, remote.id)
      assert.equal(result!.outcome, 'SUCCESS')
      assert.equal(result!.attempt_count, 2)
      assert.equal(result!.final_transport, 'tcp')
      assert.equal(result!.has_direct_conns, true)
      const id = result!.id
      const attempts = await t.db.query<{ outcome: string; attempt_number: number; start_rtt: number }>(
        'SELECT outcome, attempt_number, start_rtt FROM hole_punch_attempts WHERE hole_punch_result_id = $1 ORDER BY attempt_number',
        [id],
      )
      assert.deepEqual(
        attempts.map((a) => [a.attempt_number, a.outcome]),
        [
          [1, 'FAILED'],
          [2, 'SUCCESS'],
        ],
      )
      assert.ok(Math.abs(attempts[0]!.start_rtt - 0.05) < 1e-6)
      const links = await t.db.query<{ relationship: string; n: string | number }>(
        'SELECT relationship, count(*) AS n FROM hole_punch_results_x_multi_addresses WHERE hole_punch_result_id = $1 GROUP BY relationship ORDER BY relationship',
        [id],
      )
      assert.deepEqual(
        links.map((l) => [l.relationship, Number(l.n)]),
        [
          ['INITIAL', 1],
          ['FINAL', 2],
        ],
      )
      const latencies = await t.db.query<{
        mtype: string
        rtt_avg: number
        success_count: number
        rtt_max: number
      }>(
        'SELECT mtype, rtt_avg, rtt_max, success_count FROM latency_measurements WHERE hole_punch_result_id = $1 ORDER BY id',
        [id],
      )
      assert.equal(latencies[0]!.mtype, 'TO_RELAY')
      // The failed third ping is not part of the aggregates.
      assert.equal(latencies[0]!.success_count, 2)
      assert.ok(Math.abs(latencies[0]!.rtt_max - 0.021) < 1e-6)
      assert.equal(
        Number(
          await t.db
            .query('SELECT 1 FROM port_mappings WHERE hole_punch_result_id = $1', [id])
            .then((r) => r.length),
        ),
        1,
      )
      const ni = await t.db.query<{ supports_ipv6: boolean }>(
        'SELECT supports_ipv6 FROM network_information WHERE hole_punch_result_id = $1',
        [id],
      )
      assert.equal(ni[0]!.supports_ipv6, false)
    })

    it('TrackHolePunch stores a report without relay addresses (a repeated field, not required)', async () => {
      const before = await count(t.db, 'hole_punch_results')
      await t.client.trackHolePunch({ ...report, remoteMultiAddresses: [], endedAt: report.endedAt + 2n })
      assert.equal(await count(t.db, 'hole_punch_results'), before + 1)
      const links = await t.db.query<{ relationship: string }>(
        `SELECT x.relationship FROM hole_punch_results_x_multi_addresses x
         WHERE x.hole_punch_result_id = (SELECT max(id) FROM hole_punch_results)`,
      )
      assert.deepEqual(
        links.map((l) => l.relationship),
        ['FINAL', 'FINAL'],
      )
    })

    it("TrackHolePunch stores our client's NAT behaviours, and the mapping on the round's path", async () => {
      const behaviour = (transport: string, mapping: NatMappingBehaviour, portPreserved?: boolean) =>
        create(NatBehaviourSchema, {
          transport,
          ipVersion: 4,
          mapping,
          observations: 4,
          observerIps: 2,
          ...(portPreserved === undefined ? {} : { portPreserved }),
        })
      await t.client.trackHolePunch({
        ...report,
        endedAt: report.endedAt + 4n,
        natBehaviours: [
          behaviour('tcp', NatMappingBehaviour.ENDPOINT_INDEPENDENT, true),
          behaviour('quic', NatMappingBehaviour.ADDRESS_AND_PORT_DEPENDENT),
        ],
      })
      const [result] = await t.db.query<{ id: string | number; client_nat_mapping: string }>(
        'SELECT id, client_nat_mapping FROM hole_punch_results ORDER BY id DESC LIMIT 1',
      )
      // The report's filter is IPv4 + TCP.
      assert.equal(result!.client_nat_mapping, 'endpoint-independent')
      const rows = await t.db.query<Record<string, unknown>>(
        `SELECT transport, ip_version, mapping, port_preserved, observations, observer_ips
         FROM client_nat_behaviours WHERE hole_punch_result_id = $1 ORDER BY transport`,
        [result!.id],
      )
      assert.deepEqual(
        rows.map((r) => [
          r.transport,
          Number(r.ip_version),
          r.mapping,
          r.port_preserved,
          Number(r.observations),
          Number(r.observer_ips),
        ]),
        [
          ['quic', 4, 'address-and-port-dependent', null, 4, 2],
          ['tcp', 4, 'endpoint-independent', true, 4, 2],
        ],
      )
      const [counted] = await t.db.query<{ n: string | number }>(
        `SELECT sum(results) AS n FROM hole_punch_result_counts WHERE dimension = 'client-nat-mapping' AND key = 'endpoint-independent'`,
      )
      assert.equal(Number(counted!.n), 1)
    })

    it('TrackHolePunch stores a retried report once', async () => {
      report.endedAt += 1n // distinct from the other tests' reports
      const before = await count(t.db, 'hole_punch_results')
      await t.client.trackHolePunch(report)
      await t.client.trackHolePunch(report)
      assert.equal(await count(t.db, 'hole_punch_results'), before + 1)
    })

    const invalid: [string, (r: TrackHolePunchRequest) => void, string][] = [
      ['malformed remote peer ID', (r) => (r.remoteId = new Uint8Array([0x12, 0x20, 1])), '^remote_id'],
      [
        'malformed multiaddr bytes',
        (r) => (r.remoteMultiAddresses = [new Uint8Array([0xff, 0xff, 0xff])]),
        '^remote_multi_addresses\\[0\\]',
      ],
      [
        'connect ended before it started',
        (r) => (r.connectEndedAt = r.connectStartedAt - 1n),
        '^connect_ended_at: out of order',
      ],
      [
        'ended before the connect ended',
        (r) => (r.endedAt = r.connectEndedAt - 1n),
        '^ended_at: out of order',
      ],
      [
        'an attempt that ends before it opens',
        (r) => (r.holePunchAttempts[0]!.endedAt = r.holePunchAttempts[0]!.openedAt - 1n),
        'hole_punch_attempts\\[0\\]',
      ],
      [
        'timestamps in seconds',
        (r) => (r.connectStartedAt = 1_700_000_000n),
        '^connect_started_at: .*before 2015',
      ],
      [
        'elapsed time in microseconds',
        (r) => (r.holePunchAttempts[1]!.elapsedTime = 900_000),
        '^hole_punch_attempts\\[1\\]\\.elapsed_time',
      ],
      [
        'too many attempts',
        (r) => (r.holePunchAttempts = Array.from({ length: 51 }, () => r.holePunchAttempts[0]!)),
        '^hole_punch_attempts: too many',
      ],
      [
        'too many addresses',
        (r) => (r.openMultiAddresses = Array.from({ length: 101 }, () => maBytes('/ip4/11.0.0.1/tcp/1'))),
        '^open_multi_addresses: too many',
      ],
      ['unknown protocol filter code', (r) => (r.protocols = [999]), '^protocols\\[0\\]'],
      [
        'a NAT behaviour classified from one observer IP',
        (r) =>
          (r.natBehaviours = [
            create(NatBehaviourSchema, {
              transport: 'tcp',
              ipVersion: 4,
              mapping: NatMappingBehaviour.ENDPOINT_INDEPENDENT,
              observations: 2,
              observerIps: 1,
            }),
          ]),
        '^nat_behaviours\\[0\\]\\.mapping',
      ],
      [
        'rtt_errs not parallel to rtts',
        (r) => (r.latencyMeasurements[0]!.rttErrs = ['']),
        'latency_measurements\\[0\\]\\.rtt_errs',
      ],
    ]
    for (const [name, mutate, field] of invalid) {
      it(`TrackHolePunch rejects ${name} with INVALID_ARGUMENT and writes nothing`, async () => {
        mutate(report)
        const before = await count(t.db, 'hole_punch_results')
        const addrsBefore = await count(t.db, 'multi_addresses')
        await expectCode(t.client.trackHolePunch(report), Code.InvalidArgument, field)
        assert.equal(await count(t.db, 'hole_punch_results'), before)
        assert.equal(await count(t.db, 'multi_addresses'), addrsBefore)
      })
    }

    it('TrackHolePunch rejects an oversized message with INVALID_ARGUMENT', async () => {
      report.error = 'x'.repeat(LIMITS.maxMessageBytes + 1)
      await expectCode(t.client.trackHolePunch(report), Code.InvalidArgument, 'limit')
    })

    it('TrackHolePunch refuses reports for a host registered under another key', async () => {
      const eve = await t.addKey('eve')
      await expectCode(t.client.trackHolePunch({ ...report, apiKey: eve }), Code.PermissionDenied)
    })

    it('TrackHolePunch rejects an attempt without its required ended_at (raw bytes) and writes nothing', async () => {
      const attempt = dropField(toBinary(HolePunchAttemptSchema, report.holePunchAttempts[0]!), 3)
      const body = appendBytesField(dropField(toBinary(TrackHolePunchRequestSchema, report), 6), 6, attempt)
      const before = await count(t.db, 'hole_punch_results')
      const res = await postConnect(t.httpUrl, 'TrackHolePunch', body)
      assert.equal(res.code, 'invalid_argument')
      assert.match(res.message ?? '', /^hole_punch_attempts\[0\]\.ended_at: required field is missing/)
      assert.equal(await count(t.db, 'hole_punch_results'), before)
    })

    it('TrackHolePunch rejects a missing outcome (an enum value unknown to proto2 is dropped)', async () => {
      const r = { ...report, outcome: 42 as HolePunchOutcome }
      await expectCode(t.client.trackHolePunch(r), Code.InvalidArgument, 'outcome')
    })
  }

  it('deletes candidates no honeypot has seen for 10 minutes on its own timer', async () => {
    const stale = await newPeer()
    await seenByHoneypot(t.db, stale, { minutesAgo: 11 })
    const staleLeft = async () =>
      (
        await t.db.query(
          'SELECT 1 FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id WHERE p.multi_hash = $1',
          [stale.id],
        )
      ).length
    assert.equal(await staleLeft(), 1)
    const pruner = await startTestServer(t.db, { pruneIntervalMs: 20 })
    try {
      await until('the stale candidate to be pruned', async () => (await staleLeft()) === 0)
    } finally {
      await pruner.stop()
    }
  })

  it('/metrics counts RPCs by method and code, /healthz reports the database', async () => {
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text()
    assert.match(metrics, /punchr_server_rpcs_total\{method="TrackHolePunch",code="InvalidArgument"\} \d+/)
    assert.match(metrics, /punchr_server_hole_punch_results_total\{outcome="SUCCESS"\} \d+/)
    const health = (await (await fetch(`${t.httpUrl}/healthz`)).json()) as { status: string }
    assert.equal(health.status, 'ok')
  })
})

// What the dashboard reads instead of aggregating raw rows (sql/migrations/0002, filled by
// insertHolePunchReport): the facts stored on each result, the hourly counts and RTT
// histograms, and the views that sum them. Every number must be what the raw rows give —
// checked against the raw rows through the joins of the first schema, for ranges that cut
// hours anywhere, for one key's results, after the migration's backfill and under concurrent
// reports — on PGlite and PostgreSQL.
import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { breakdown } from '../../src/dashboard/queries/breakdowns.js'
import { latencyDistributions, startRttDistributions } from '../../src/dashboard/queries/distributions.js'
import { outcomeSeries, outcomeTotals } from '../../src/dashboard/queries/outcomes.js'
import type { ResultScope } from '../../src/dashboard/queries/scope.js'
import { finalConnections, successAttempts } from '../../src/dashboard/queries/successes.js'
import { bucketSeconds, cdfFromHistogram, logEdges } from '../../src/dashboard/statistics.js'
import { findApiKey } from '../../src/db/authorizations.js'
import type { Database, Queryable } from '../../src/db/database.js'
import type { HolePunchOutcomeName } from '../../src/db/hole-punches.js'
import { readMigrations, splitStatements } from '../../src/db/migrate.js'
import { insertHolePunchReport, insertHolePunchReports } from '../../src/db/report-batch.js'
import { type DashboardSeed, seedDashboard } from '../support/dashboard-seed.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { sampleReports } from '../support/sample-reports.js'

const HOUR = 3_600_000
const EDGES = logEdges()

/** One result as the raw rows of the first schema give it, facts looked up through joins. */
interface RawResult {
  createdAt: number
  clientId: number
  remoteId: number
  authorizationId: number
  outcome: HolePunchOutcomeName
  protocols: number[]
  finalTransport: string | null
  finalIpVersion: number | null
  successAttempt: number | null
  clientCountry: string | null
  clientAsn: string | null
  remoteCountry: string | null
  remoteAsn: string | null
  clientImplementation: string
  quirks: string[]
  clientNatMapping: string | null
  portMapped: boolean
  startRtts: { outcome: string; value: number }[]
  latencies: { mtype: string; value: number }[]
}

async function rawResults(db: Queryable): Promise<RawResult[]> {
  const geo = (from: string, result: string) =>
    `(SELECT json_build_object('country', m.country::text, 'asn', m.asn::text) FROM ${from}
      JOIN multi_addresses m ON m.id = x.multi_address_id
      WHERE ${result} = r.id AND (m.country IS NOT NULL OR m.asn IS NOT NULL) ORDER BY m.id LIMIT 1)`
  const rows = await db.query<{
    created_at: string
    client_id: number
    remote_id: number
    authorization_id: number
    outcome: HolePunchOutcomeName
    protocols: number[]
    final_transport: string | null
    final_ip_version: number | null
    success_attempt: number | null
    client_geo: { country: string | null; asn: string | null } | null
    remote_geo: { country: string | null; asn: string | null } | null
    client_implementation: string
    quirks: string[]
    client_nat_mapping: string | null
    port_mapped: boolean
    start_rtts: { outcome: string; value: number }[]
    latencies: { mtype: string; value: number }[]
  }>(
    `SELECT (extract(epoch FROM r.created_at) * 1000)::float8::text AS created_at, r.client_id::int AS client_id,
       r.remote_id::int AS remote_id, c.authorization_id, r.outcome::text AS outcome, r.protocols, r.final_transport,
       r.final_ip_version::int AS final_ip_version,
       (SELECT min(a.attempt_number)::int FROM hole_punch_attempts a
        WHERE a.hole_punch_result_id = r.id AND a.outcome IN ('SUCCESS', 'DIRECT_DIAL')) AS success_attempt,
       ${geo('hole_punch_results_x_listen_multi_addresses x', 'x.hole_punch_result_id')} AS client_geo,
       ${geo('hole_punch_attempts a JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = a.id', 'a.hole_punch_result_id')} AS remote_geo,
       r.client_implementation, r.quirks, r.client_nat_mapping,
       EXISTS (SELECT 1 FROM port_mappings pm WHERE pm.hole_punch_result_id = r.id) AS port_mapped,
       coalesce((SELECT json_agg(json_build_object('outcome', a.outcome, 'value', a.start_rtt)) FROM hole_punch_attempts a
        WHERE a.hole_punch_result_id = r.id AND a.start_rtt IS NOT NULL AND a.outcome IN ('SUCCESS', 'FAILED')), '[]') AS start_rtts,
       coalesce((SELECT json_agg(json_build_object('mtype', l.mtype, 'value', l.rtt_avg)) FROM latency_measurements l
        WHERE l.hole_punch_result_id = r.id AND l.rtt_avg IS NOT NULL), '[]') AS latencies
     FROM hole_punch_results r JOIN clients c ON c.id = r.client_id ORDER BY r.id`,
  )
  return rows.map((r) => ({
    createdAt: Number(r.created_at),
    clientId: r.client_id,
    remoteId: r.remote_id,
    authorizationId: r.authorization_id,
    outcome: r.outcome,
    protocols: r.protocols,
    finalTransport: r.final_transport,
    finalIpVersion: r.final_ip_version,
    successAttempt: r.success_attempt,
    clientCountry: r.client_geo?.country ?? null,
    clientAsn: r.client_geo?.asn ?? null,
    remoteCountry: r.remote_geo?.country ?? null,
    remoteAsn: r.remote_geo?.asn ?? null,
    clientImplementation: r.client_implementation,
    quirks: r.quirks,
    clientNatMapping: r.client_nat_mapping,
    portMapped: r.port_mapped,
    startRtts: r.start_rtts,
    latencies: r.latencies,
  }))
}

/** The group of a result per dimension, as docs/DASHBOARD.md defines them; undefined: not counted. */
const GROUPS: Record<string, (r: RawResult) => string | undefined> = {
  outcome: () => '',
  transport: (r) =>
    r.protocols.includes(6)
      ? 'tcp'
      : r.protocols.includes(460) || r.protocols.includes(461)
        ? 'quic'
        : 'unfiltered',
  'ip-version': (r) => (r.protocols.includes(4) ? 'ip4' : r.protocols.includes(41) ? 'ip6' : 'unfiltered'),
  'client-country': (r) => r.clientCountry ?? 'unknown',
  'client-asn': (r) => (r.clientAsn === null ? 'unknown' : `AS${r.clientAsn}`),
  'remote-country': (r) => r.remoteCountry ?? 'unknown',
  'remote-asn': (r) => (r.remoteAsn === null ? 'unknown' : `AS${r.remoteAsn}`),
  'success-attempt': (r) => (r.outcome === 'SUCCESS' ? String(r.successAttempt ?? 'none') : undefined),
  'final-connection': (r) =>
    r.outcome === 'SUCCESS' ? `${r.finalTransport ?? 'none'}/${r.finalIpVersion ?? ''}` : undefined,
  'client-implementation': (r) => `${r.clientImplementation}${r.quirks.length > 0 ? ' (normalised)' : ''}`,
  'client-nat-mapping': (r) => r.clientNatMapping ?? 'not reported',
  'client-port-mapping': (r) => (r.portMapped ? 'mapped' : 'none'),
}

function tally<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) {
    const k = key(item)
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return counts
}

const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** The hourly tables and last_results must hold exactly what the raw rows give. */
async function assertHourlyTablesMatchRawRows(db: Queryable): Promise<void> {
  const raw = await rawResults(db)
  const last = await db.query<{ role: string; id: number; t: string }>(
    `SELECT role, id::int AS id, (extract(epoch FROM created_at) * 1000)::float8::text AS t FROM last_results`,
  )
  const newest = new Map<string, number>()
  for (const r of raw)
    for (const key of [`client ${r.clientId}`, `remote ${r.remoteId}`])
      newest.set(key, Math.max(newest.get(key) ?? 0, r.createdAt))
  assert.deepEqual(
    sorted(new Map(last.map((l) => [`${l.role} ${l.id}`, Number(l.t)]))),
    sorted(newest),
    'last_results',
  )
  const hour = (r: RawResult) => new Date(Math.floor(r.createdAt / HOUR) * HOUR).toISOString()
  const counts = await db.query<{
    dimension: string
    hour: Date
    key: string
    outcome: string
    results: number
  }>('SELECT dimension, hour, key, outcome::text AS outcome, results FROM hole_punch_result_counts')
  assert.deepEqual(
    sorted(
      new Map(
        counts.map((c) => [
          `${c.dimension} ${new Date(c.hour).toISOString()} ${c.key} ${c.outcome}`,
          c.results,
        ]),
      ),
    ),
    sorted(
      new Map(
        Object.entries(GROUPS).flatMap(([dimension, group]) => [
          ...tally(raw, (r) => {
            const key = group(r)
            return key === undefined ? undefined : `${dimension} ${hour(r)} ${key} ${r.outcome}`
          }),
        ]),
      ),
    ),
    'hole_punch_result_counts',
  )
  const bins = await db.query<{ kind: string; name: string; hour: Date; bin: number; n: number }>(
    'SELECT kind, name, hour, bin, n FROM rtt_histograms',
  )
  const values = raw.flatMap((r) => [
    ...r.startRtts.map((v) => ({ key: `start-rtt ${v.outcome} ${hour(r)}`, value: v.value })),
    ...r.latencies.map((v) => ({ key: `latency ${v.mtype} ${hour(r)}`, value: v.value })),
  ])
  assert.deepEqual(
    sorted(new Map(bins.map((b) => [`${b.kind} ${b.name} ${new Date(b.hour).toISOString()} ${b.bin}`, b.n]))),
    sorted(tally(values, (v) => `${v.key} ${binOf(v.value)}`)),
    'rtt_histograms',
  )
}

/** width_bucket(value, EDGES): how many edges are ≤ value. */
const binOf = (value: number) => EDGES.filter((e) => e <= value).length

function histogram(values: readonly number[]): Map<number, number> {
  const bins = new Map<number, number>()
  for (const v of values) bins.set(binOf(v), (bins.get(binOf(v)) ?? 0) + 1)
  return bins
}

/** percentile_cont(0.5) of the values. */
function median(values: number[]): number | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  const lo = s[Math.floor((s.length - 1) / 2)]!
  const hi = s[Math.ceil((s.length - 1) / 2)]!
  return lo + 0.5 * (hi - lo)
}

/** Every view over `scope` must give what the raw rows in it give. */
async function assertViewsMatchRawRows(db: Queryable, scope: ResultScope, all: RawResult[]): Promise<void> {
  const what = `${scope.since.toISOString()}…${scope.until.toISOString()}${scope.authorizationId === undefined ? '' : ` key ${scope.authorizationId}`}`
  const rows = all.filter(
    (r) =>
      r.createdAt >= scope.since.getTime() &&
      r.createdAt < scope.until.getTime() &&
      (scope.authorizationId === undefined || r.authorizationId === scope.authorizationId),
  )
  const totals = await outcomeTotals(db, scope)
  assert.equal(totals.results, rows.length, `${what}: results`)
  assert.deepEqual(
    sorted(new Map(Object.entries(totals.outcomes).filter(([, n]) => n > 0))),
    sorted(tally(rows, (r) => r.outcome)),
    `${what}: outcomes`,
  )
  assert.equal(totals.clients, new Set(rows.map((r) => r.clientId)).size, `${what}: clients`)
  assert.equal(totals.remotes, new Set(rows.map((r) => r.remoteId)).size, `${what}: remotes`)

  for (const by of [
    'transport',
    'ip-version',
    'client-country',
    'client-asn',
    'remote-country',
    'remote-asn',
    'client-implementation',
    'client-nat-mapping',
    'client-port-mapping',
  ] as const) {
    const b = await breakdown(db, scope, by, 100)
    const expected = sorted(tally(rows, GROUPS[by]!)).map(([key, results]) => {
      const group = rows.filter((r) => GROUPS[by]!(r) === key)
      const n = (o: string) => group.filter((r) => r.outcome === o).length
      return [key, results, n('SUCCESS'), n('FAILED')]
    })
    assert.deepEqual(
      b.groups.map((g) => [g.key, g.results, g.success, g.failed]).sort(),
      expected.sort(),
      `${what}: breakdown by ${by}`,
    )
  }

  const successes = rows.filter((r) => r.outcome === 'SUCCESS')
  const attempts = await successAttempts(db, scope)
  assert.deepEqual(
    sorted(new Map(attempts.attempts.map((a) => [String(a.attempt ?? 'none'), a.successes]))),
    sorted(tally(successes, GROUPS['success-attempt']!)),
    `${what}: success attempts`,
  )
  const finals = await finalConnections(db, scope)
  assert.deepEqual(
    sorted(new Map(finals.connections.map((c) => [`${c.transport}/${c.ipVersion ?? ''}`, c.successes]))),
    sorted(tally(successes, GROUPS['final-connection']!)),
    `${what}: final connections`,
  )

  const series = await outcomeSeries(db, scope)
  const step = bucketSeconds((scope.until.getTime() - scope.since.getTime()) / 1000) * 1000
  assert.deepEqual(
    sorted(
      new Map(
        series.buckets.flatMap((b) =>
          Object.entries(b.outcomes)
            .filter(([, n]) => n > 0)
            .map(([o, n]) => [`${b.start} ${o}`, n] as const),
        ),
      ),
    ),
    sorted(
      tally(rows, (r) => `${new Date(Math.floor(r.createdAt / step) * step).toISOString()} ${r.outcome}`),
    ),
    `${what}: time series`,
  )

  for (const [distributions, values] of [
    [
      await startRttDistributions(db, scope),
      rows.flatMap((r) => r.startRtts.map((v) => ({ name: v.outcome, value: v.value }))),
    ],
    [
      await latencyDistributions(db, scope),
      rows.flatMap((r) => r.latencies.map((v) => ({ name: v.mtype, value: v.value }))),
    ],
  ] as const) {
    for (const d of distributions) {
      const mine = values.filter((v) => v.name === d.name).map((v) => v.value)
      assert.equal(d.count, mine.length, `${what}: ${d.name} count`)
      assert.equal(d.median, median(mine), `${what}: ${d.name} median`)
      assert.deepEqual(d.cdf, cdfFromHistogram(EDGES, histogram(mine)), `${what}: ${d.name} CDF`)
    }
  }
}

describeEachDatabase('dashboard hourly tables', (getDb) => {
  let seed: DashboardSeed

  before(async () => {
    seed = await seedDashboard(getDb())
  })

  it('stores on each result the facts its views group by', async () => {
    const rows = await getDb().query<{
      success_attempt: number | null
      client_country: string | null
      client_asn: string | null
      remote_country: string | null
      remote_asn: string | null
    }>(
      `SELECT success_attempt::int AS success_attempt, client_country::text AS client_country, client_asn::text AS client_asn,
         remote_country::text AS remote_country, remote_asn::text AS remote_asn
       FROM hole_punch_results ORDER BY array_position($1::bigint[], id)`,
      [seed.results.map((r) => r.id)],
    )
    // Seed rows #1…#12 (test/support/dashboard-seed.ts): the first successful attempt; the
    // client's first public listen address (B1 has none); the remote's first punched address
    // with geo data (R2 offers a private one first; no attempts, no remote address).
    assert.deepEqual(
      rows.map((r) => [r.success_attempt, r.client_country, r.client_asn, r.remote_country, r.remote_asn]),
      [
        [1, 'DE', '3320', 'FR', '12322'],
        [2, 'DE', '3320', 'DE', '3320'],
        [null, 'DE', '3320', 'US', '7922'],
        [1, 'US', '7922', 'FR', '12322'],
        [null, 'US', '7922', 'DE', '3320'],
        [null, 'US', '7922', null, null],
        [1, null, null, 'FR', '12322'],
        [null, null, null, null, null],
        [null, null, null, 'DE', '3320'],
        [3, 'DE', '3320', 'FR', '12322'],
        [1, 'DE', '3320', 'FR', '12322'],
        [null, null, null, 'DE', '3320'],
      ],
    )
  })

  it("copies the result's time onto its attempts and latency measurements", async () => {
    const rows = await getDb().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM hole_punch_results r
       WHERE EXISTS (SELECT 1 FROM hole_punch_attempts a WHERE a.hole_punch_result_id = r.id
                     AND a.result_created_at IS DISTINCT FROM r.created_at)
          OR EXISTS (SELECT 1 FROM latency_measurements l WHERE l.hole_punch_result_id = r.id
                     AND l.result_created_at IS DISTINCT FROM r.created_at)`,
    )
    assert.equal(rows[0]!.n, 0)
  })

  it('rtt_bin() bins on the edges of logEdges(), like width_bucket over them', async () => {
    const probes = EDGES.flatMap((e) => [e, e * (1 - 1e-9), e * (1 + 1e-9)]).concat([-1, 1e6])
    const rows = await getDb().query<{ bin: number }>(
      'SELECT rtt_bin(v) AS bin FROM unnest($1::float8[]) WITH ORDINALITY AS p(v, i) ORDER BY i',
      [probes],
    )
    assert.deepEqual(
      rows.map((r) => r.bin),
      probes.map(binOf),
    )
  })

  it('keeps hourly counts and RTT histograms that are what the raw rows give', async () => {
    await assertHourlyTablesMatchRawRows(getDb())
  })

  it('answers every view with the raw rows’ numbers, for ranges that cut hours anywhere', async () => {
    const db = getDb()
    const raw = await rawResults(db)
    const times = raw.map((r) => r.createdAt)
    const hours = times.map((t) => Math.floor(t / HOUR) * HOUR)
    // Whole hours around the data, the results' own times (a range includes its start and
    // excludes its end) and a millisecond after them.
    const bounds = [
      ...new Set([
        Math.min(...hours) - HOUR,
        ...hours,
        Math.max(...hours) + 2 * HOUR,
        seed.now.getTime() - 7 * 86_400_000,
        ...[0, 5, 10].flatMap((i) => [times[i]!, times[i]! + 1]),
      ]),
    ].sort((a, b) => a - b)
    const alice = (await findApiKey(db, seed.keys.alice))!.id
    for (const [i, since] of bounds.entries()) {
      for (const until of bounds.slice(i + 1)) {
        const scope = { since: new Date(since), until: new Date(until) }
        await assertViewsMatchRawRows(db, scope, raw)
        if (i % 3 === 0) await assertViewsMatchRawRows(db, { ...scope, authorizationId: alice }, raw)
      }
    }
  })

  it('the migration computes the same for the results stored before it', async () => {
    const db = getDb()
    const derived = async () => ({
      results: await db.query(
        `SELECT id, success_attempt, client_country, client_asn::text, remote_country, remote_asn::text,
           client_implementation
         FROM hole_punch_results ORDER BY id`,
      ),
      attempts: await db.query(
        'SELECT id, result_created_at::text AS t FROM hole_punch_attempts ORDER BY id',
      ),
      latencies: await db.query(
        'SELECT id, result_created_at::text AS t FROM latency_measurements ORDER BY id',
      ),
      counts: await db.query(
        'SELECT dimension, hour::text, key, outcome, results FROM hole_punch_result_counts ORDER BY 1, 2, 3, 4',
      ),
      bins: await db.query('SELECT kind, name, hour::text, bin, n FROM rtt_histograms ORDER BY 1, 2, 3, 4'),
      last: await db.query('SELECT role, id::text, created_at::text FROM last_results ORDER BY 1, 2'),
    })
    const stored = await derived()
    // 0002 the facts, hourly tables and last results; 0003 the client implementation (from the
    // host's agent version) and its hourly counts. Quirks cannot be backfilled (results
    // stored before were stored as sent), so they stay as stored.
    const backfills = (version: number) =>
      splitStatements(readMigrations()[version - 1]!.sql).filter((s) => /^(UPDATE|INSERT)\b/.test(s))
    // 0008 the hourly counts by client NAT mapping and port mapping.
    const backfill = [...backfills(2), ...backfills(3), ...backfills(8)]
    assert.ok(
      backfills(2).length >= 6 && backfills(3).length >= 2 && backfills(8).length === 2,
      'the migrations backfill',
    )
    await db.transaction(async (tx) => {
      await tx.query(
        `UPDATE hole_punch_results SET success_attempt = NULL, client_country = NULL, client_asn = NULL,
           remote_country = NULL, remote_asn = NULL, client_implementation = 'other'`,
      )
      // result_created_at is no longer backfilled: since 0011 it is the child tables' partition
      // key, NOT NULL, written with every row.
      await tx.query('DELETE FROM hole_punch_result_counts')
      await tx.query('DELETE FROM rtt_histograms')
      await tx.query('DELETE FROM last_results')
      for (const statement of backfill) await tx.query(statement)
    })
    assert.deepEqual(await derived(), stored)
  })

  it('counts every one of many concurrent reports once, retries included, without deadlocks', async () => {
    const db = getDb()
    const [client] = await db.query<{ id: number }>('SELECT id::int AS id FROM clients ORDER BY id LIMIT 1')
    const remotes = await Promise.all(Array.from({ length: 4 }, () => newPeer()))
    const reports = sampleReports(client!.id, remotes, 'concurrent')
    const before = await db.query<{ n: number }>(
      `SELECT coalesce(sum(results), 0)::int AS n FROM hole_punch_result_counts WHERE dimension = 'outcome'`,
    )
    // Reports 20…23 are retries of 0…3, sent while the originals are in flight.
    const stored = await Promise.all(
      reports.map((r) => insertHolePunchReport(db as Database, r, () => ({ country: null, asn: null }))),
    )
    assert.equal(stored.filter((id) => id !== undefined).length, 20)
    const after = await db.query<{ n: number }>(
      `SELECT sum(results)::int AS n FROM hole_punch_result_counts WHERE dimension = 'outcome'`,
    )
    assert.equal(after[0]!.n - before[0]!.n, 20)
    await assertHourlyTablesMatchRawRows(db)
  })
  it('stores batches of reports as it stores them alone: each copy once, rollups that are the raw rows', async () => {
    const db = getDb() as Database
    const [client] = await db.query<{ id: number }>('SELECT id::int AS id FROM clients ORDER BY id LIMIT 1')
    const remotes = await Promise.all(Array.from({ length: 4 }, () => newPeer()))
    const reports = sampleReports(client!.id, remotes, 'batched').map((r, i) =>
      i === 5 ? { ...r, clientListenIpVersions: [4, 6] } : r,
    )
    const before = await db.query<{ n: number }>(
      `SELECT coalesce(sum(results), 0)::int AS n FROM hole_punch_result_counts WHERE dimension = 'outcome'`,
    )
    const noGeo = () => ({ country: null, asn: null })
    // Three batches at once over the same remotes: 20 and 21 copy 0 and 1 inside the first
    // batch, 22 and 23 copy 2 and 3 across batches.
    const batches = [
      [...reports.slice(0, 8), reports[20]!, reports[21]!],
      [...reports.slice(8, 14), reports[22]!],
      [...reports.slice(14, 20), reports[23]!, reports[2]!],
    ]
    const ids = await Promise.all(batches.map((batch) => insertHolePunchReports(db, batch, noGeo)))
    const stored = ids.flat().filter((id) => id !== undefined)
    assert.equal(stored.length, 20)
    assert.equal(new Set(stored).size, 20)
    assert.deepEqual(ids[0]!.slice(8), [undefined, undefined], 'copies inside a batch are stored once')
    const after = await db.query<{ n: number }>(
      `SELECT sum(results)::int AS n FROM hole_punch_result_counts WHERE dimension = 'outcome'`,
    )
    assert.equal(after[0]!.n - before[0]!.n, 20)
    const attempts = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM hole_punch_attempts WHERE hole_punch_result_id = ANY($1::bigint[])',
      [stored],
    )
    assert.equal(attempts[0]!.n, 20)
    const [host] = await db.query<{ v: number[] }>(
      'SELECT listen_ip_versions AS v FROM clients WHERE id = $1',
      [client!.id],
    )
    assert.deepEqual(host!.v, [4, 6])
    await assertHourlyTablesMatchRawRows(db)
  })
})

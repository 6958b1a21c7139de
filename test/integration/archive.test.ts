// Monthly partitions and `punchr archive` (src/db/partitions.ts, src/dashboard/archive.ts): a
// past month leaves the database as Parquet files that hold what `punchr export` wrote of it,
// the other months stay, and a retry of an archived report is still recognised.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
import { ArchiveError, archiveMonth } from '../../src/dashboard/archive.js'
import { exportDataset } from '../../src/dashboard/export.js'
import { exportTables } from '../../src/dashboard/export-tables.js'
import type { Database } from '../../src/db/database.js'
import {
  createPartitionsAhead,
  monthOf,
  monthRange,
  monthState,
  parseMonth,
  RESULT_TABLES,
} from '../../src/db/partitions.js'
import { insertHolePunchReport, insertHolePunchReports } from '../../src/db/report-batch.js'
import { punchr } from '../support/cli.js'
import { seedDashboard } from '../support/dashboard-seed.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { sampleReports } from '../support/sample-reports.js'

const noGeo = () => ({ country: null, asn: null })

const readParquet = async (file: string) =>
  (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Record<string, unknown>[]

const count = async (db: Database, sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: string | number }>(sql, params))[0]!.n)

describeEachDatabase('monthly partitions and punchr archive', (getDb) => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-archive-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const october = parseMonth('2026-10')

  it('stores each result and every row of it in the partition of its month', async () => {
    const db = getDb()
    await seedDashboard(db, new Date('2026-10-15T12:00:00Z'))
    await seedDashboard(db)
    // Reports with a row in every table that hangs off a result, in October and now.
    const [client] = await db.query<{ id: number }>('SELECT id::int AS id FROM clients ORDER BY id LIMIT 1')
    const natBehaviours = [
      {
        transport: 'tcp',
        ipVersion: 4,
        mapping: 'unknown',
        portPreserved: null,
        observations: 1,
        observerIps: 1,
      },
    ] as const
    const full = sampleReports(client!.id, [await newPeer()], 'every table')
      .slice(0, 4)
      .map((r) => ({ ...r, natBehaviours }))
    await insertHolePunchReports(db, full.slice(0, 2), noGeo, { createdAt: '2026-10-20T10:00:00Z' })
    await insertHolePunchReports(db, full.slice(2), noGeo)
    // Each result in the partition named for the UTC month of its stored time.
    const misplacedResults = await count(
      db,
      `SELECT count(*) AS n FROM hole_punch_results
       WHERE tableoid::regclass::text <> 'hole_punch_results_' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM')`,
    )
    assert.equal(misplacedResults, 0)
    assert.ok((await count(db, 'SELECT count(*) AS n FROM hole_punch_results_2026_10')) > 0)
    // Every child row sits in the partition of its result's month.
    for (const child of [
      'hole_punch_attempts',
      'latency_measurements',
      'hole_punch_results_x_listen_multi_addresses',
    ]) {
      const misplaced = await count(
        db,
        `SELECT count(*) AS n FROM ${child} c JOIN hole_punch_results r ON r.id = c.hole_punch_result_id
         WHERE c.result_created_at <> r.created_at
            OR substring(c.tableoid::regclass::text FROM '_(\\d{4}_\\d{2})$') <> substring(r.tableoid::regclass::text FROM '_(\\d{4}_\\d{2})$')`,
      )
      assert.equal(misplaced, 0, child)
    }
    // No foreign key holds them to their result (migration 0011): none is without one.
    for (const child of RESULT_TABLES.filter((t) => t !== 'hole_punch_results')) {
      const key =
        child === 'hole_punch_attempts_x_multi_addresses' ? 'hole_punch_attempt_id' : 'hole_punch_result_id'
      const parent = key === 'hole_punch_attempt_id' ? 'hole_punch_attempts' : 'hole_punch_results'
      const parentTime = parent === 'hole_punch_attempts' ? 'result_created_at' : 'created_at'
      const orphans = await count(
        db,
        `SELECT count(*) AS n FROM ${child} c
         WHERE NOT EXISTS (SELECT 1 FROM ${parent} p WHERE p.id = c.${key} AND p.${parentTime} = c.result_created_at)`,
      )
      assert.equal(orphans, 0, child)
      assert.ok((await count(db, `SELECT count(*) AS n FROM ${child}`)) > 0, `${child} has rows`)
    }
  })

  it('the server makes the coming month ahead, once', async () => {
    const db = getDb()
    // The migration made this and the next month; a second call finds them.
    assert.equal(await createPartitionsAhead(db), 0)
    const next = new Date()
    next.setUTCMonth(next.getUTCMonth() + 1, 1)
    assert.equal(await monthState(db, monthOf(next)), 'attached')
  })

  it('archives October: the Parquet files hold what the export wrote of it, and the live tables no longer do', async () => {
    const db = getDb()
    const exported = await exportDataset(
      db,
      monthRange(october),
      'parquet',
      join(dir, 'export'),
      exportTables().filter((t) => t.scoped),
    )
    assert.ok(
      exported.every((f) => f.rows > 0),
      'the month has results, attempts and latencies',
    )
    const othersBefore = await count(db, 'SELECT count(*) AS n FROM hole_punch_results')
    const countsBefore = await count(db, 'SELECT count(*) AS n FROM hole_punch_result_counts')

    const archived = await archiveMonth(db, october, { out: join(dir, 'archive'), keepTables: true })
    assert.equal(archived.detached, true)
    assert.equal(archived.dropped, false)
    assert.deepEqual(
      archived.files.map((f) => [f.table, f.rows]),
      exported.map((f) => [f.table, f.rows]),
    )
    for (const [i, file] of archived.files.entries())
      assert.deepEqual(await readParquet(file.file), await readParquet(exported[i]!.file), file.table)

    assert.equal(await monthState(db, october), 'detached')
    const { since, until } = monthRange(october)
    assert.equal(
      await count(
        db,
        'SELECT count(*) AS n FROM hole_punch_results WHERE created_at >= $1 AND created_at < $2',
        [since.toISOString(), until.toISOString()],
      ),
      0,
    )
    assert.equal(
      await count(db, 'SELECT count(*) AS n FROM hole_punch_results'),
      othersBefore - exported[0]!.rows,
      'the other months stay',
    )
    // The dashboard's hourly tables keep the month's numbers.
    assert.equal(await count(db, 'SELECT count(*) AS n FROM hole_punch_result_counts'), countsBefore)
  })

  it('takes a detached month up again, and drops it once written', async () => {
    const db = getDb()
    const archived = await archiveMonth(db, october, { out: join(dir, 'again') })
    assert.equal(archived.detached, false, 'an earlier run had detached it')
    assert.equal(archived.dropped, true)
    assert.equal(
      archived.files[0]!.rows,
      (await readParquet(join(dir, 'archive', '2026-10', 'results.parquet'))).length,
    )
    assert.equal(await monthState(db, october), 'absent')
  })

  it('stores a retry of an archived report once: as a retry, not as a new result', async () => {
    const db = getDb()
    const [client] = await db.query<{ id: number }>('SELECT id::int AS id FROM clients ORDER BY id LIMIT 1')
    const reports = sampleReports(client!.id, [await newPeer()], 'archived').slice(0, 2)
    const ids = await insertHolePunchReports(db, reports, noGeo, { createdAt: '2026-09-10T08:00:00Z' })
    assert.ok(ids.every((id) => id !== undefined))
    await archiveMonth(db, parseMonth('2026-09'), { out: join(dir, 'september') })
    assert.equal(await insertHolePunchReport(db, reports[0]!, noGeo), undefined)
    assert.equal(
      await count(db, 'SELECT count(*) AS n FROM hole_punch_results WHERE report_sha256 = $1', [
        Buffer.from(reports[0]!.reportSha256),
      ]),
      0,
    )
  })

  it('refuses a month that is not over, and one that has no partitions, saying why', async () => {
    const db = getDb()
    const now = monthOf(new Date())
    await assert.rejects(archiveMonth(db, now, { out: dir }), (err: Error) => {
      assert.ok(err instanceof ArchiveError)
      assert.match(err.message, new RegExp(`^${now} is not over yet: .*archive it from \\d{4}-\\d{2}-01 on$`))
      return true
    })
    assert.equal(await monthState(db, now), 'attached', 'nothing was detached')
    await assert.rejects(archiveMonth(db, parseMonth('2020-01'), { out: dir }), /2020-01 has no partitions/)
  })
})

it('punchr archive says what a month is, and what it needs', () => {
  const badMonth = punchr(['archive', '--month', '2026-13', '--out', '/tmp/x'])
  assert.equal(badMonth.code, 2)
  assert.match(badMonth.stderr, /--month: a month is YYYY-MM, e\.g\. 2026-11, not "2026-13"/)
  const noOut = punchr(['archive', '--month', '2026-11'])
  assert.equal(noOut.code, 2)
  assert.match(noOut.stderr, /archive needs --out <folder>/)
})

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { type PostgresCluster, startPostgres } from '../support/postgres.js'
import { loopbackServerConfig, reportingHost, testGeo } from '../support/server.js'
import { until } from '../support/until.js'

/**
 * `--read-database-url`: the dashboard reads from a real streaming replica (a hot standby made
 * with pg_basebackup) while reports go to the primary. Pausing the standby's replay proves
 * which database the dashboard reads: a report committed on the primary stays invisible on
 * the dashboard until the replica replays it.
 */
describe('the dashboard on a read replica (PostgreSQL streaming replication)', { timeout: 120_000 }, () => {
  let primary: PostgresCluster
  let standby: PostgresCluster
  let db: Database
  let server: PunchrServer
  let replicaAdmin: pg.Client

  before(async () => {
    primary = await startPostgres({ replicable: true })
    db = await openDatabase({ databaseUrl: primary.url })
    await migrate(db)
    standby = await startPostgres({ standbyOf: primary })
    replicaAdmin = new pg.Client({ connectionString: standby.url })
    await replicaAdmin.connect()
    server = await createServer(loopbackServerConfig({ readDatabaseUrl: standby.url }), {
      db,
      geo: await testGeo(),
    })
    await server.start()
  })
  after(async () => {
    await server?.destroy()
    await replicaAdmin?.end()
    await db?.close()
    await standby?.stop()
    await primary?.stop()
  })

  it('shows what the replica has replayed, not what the primary holds', async () => {
    const [inRecovery] = (await replicaAdmin.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows
    assert.equal(inRecovery!.r, true, 'the read database is a standby')
    const { client, report } = await reportingHost(db, server.grpcPort, 'replica')
    const dashboardResults = async () => {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/summary`)
      assert.equal(res.status, 200)
      return ((await res.json()) as { results: number }).results
    }

    await client.trackHolePunch(report)
    await until('the replica to show the first report', async () => (await dashboardResults()) === 1, 30_000)

    await replicaAdmin.query('SELECT pg_wal_replay_pause()')
    await client.trackHolePunch({ ...report, endedAt: report.endedAt + 1n })
    const onPrimary = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM hole_punch_results')
    assert.equal(onPrimary[0]!.n, 2)
    await sleep(500)
    assert.equal(await dashboardResults(), 1, 'the dashboard reads the paused replica, not the primary')

    await replicaAdmin.query('SELECT pg_wal_replay_resume()')
    await until(
      'the replica to replay the second report',
      async () => (await dashboardResults()) === 2,
      30_000,
    )
  })
})

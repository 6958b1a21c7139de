import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Database, openDatabase } from '../../src/db/database.js'
import { type Migration, migrate, readMigrations, splitStatements } from '../../src/db/migrate.js'
import { RESULT_TABLES } from '../../src/db/partitions.js'
import { type DatabaseKind, databaseKinds, openTestDatabase, postgresTestUrl } from '../support/databases.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'

const migrations = readMigrations()
const newest = migrations.at(-1)?.version ?? 0

/** Tables the shipped migrations create, read from the SQL itself so new migrations count too. */
const expectedTables = [
  ...new Set([
    'schema_migrations',
    ...migrations.flatMap((m) =>
      splitStatements(m.sql)
        .map((s) =>
          /^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)/i.exec(s)?.[1]?.toLowerCase(),
        )
        .filter((t): t is string => t !== undefined),
    ),
  ]),
].sort()

/** The tables of the schema; a partition (hole_punch_results_2026_11, …) is part of its table. */
async function publicTables(db: Database): Promise<string[]> {
  const rows = await db.query<{ table_name: string }>(
    `SELECT relname AS table_name FROM pg_class
     WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition
     ORDER BY relname`,
  )
  return rows.map((r) => r.table_name)
}

for (const kind of databaseKinds) {
  describe(`migrate [${kind}]`, () => {
    let db: Database
    before(async () => {
      db = await openTestDatabase(kind, { migrate: false })
    })
    after(async () => {
      await db?.close()
    })

    it('applies every migration to an empty database', async () => {
      const applied = await migrate(db)
      assert.deepEqual(
        applied,
        migrations.map((m) => m.version),
      )
      const rows = await db.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      )
      assert.deepEqual(
        rows.map((r) => [Number(r.version), r.name]),
        migrations.map((m) => [m.version, m.name]),
      )
    })

    it('applies nothing the second time', async () => {
      assert.deepEqual(await migrate(db), [])
    })

    it('creates every table of the schema', async () => {
      assert.ok(expectedTables.length > 1, 'the migrations create tables')
      assert.deepEqual(await publicTables(db), expectedTables)
    })

    it('says in the schema what elapsed_time measures (from the start, not the opening)', async () => {
      const [row] = await db.query<{ comment: string }>(
        `SELECT col_description('hole_punch_attempts'::regclass, attnum) AS comment
         FROM pg_attribute WHERE attrelid = 'hole_punch_attempts'::regclass AND attname = 'elapsed_time'`,
      )
      assert.match(row!.comment, /^seconds from started_at \(opened_at when the attempt never started\)/)
    })

    it('refuses a migration that was changed after it was applied', async () => {
      const edited: Migration[] = migrations.map((m, i) =>
        i === 0 ? { ...m, sql: `${m.sql}\n-- edited afterwards\n` } : m,
      )
      await assert.rejects(
        migrate(db, edited),
        /migration 1_\w+ was changed after it was applied; add a new migration/,
      )
    })

    it('refuses a database migrated by a newer punchr', async () => {
      await db.query(
        "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, 'from_the_future', 'x')",
        [newest + 1],
      )
      try {
        await assert.rejects(
          migrate(db),
          new RegExp(
            `database schema version ${newest + 1} is newer than this punchr knows \\(${newest}\\); upgrade punchr`,
          ),
        )
      } finally {
        await db.query('DELETE FROM schema_migrations WHERE version = $1', [newest + 1])
      }
    })

    it('rolls a failing migration back completely', async () => {
      const broken: Migration = {
        version: newest + 1,
        name: 'broken',
        sql: 'CREATE TABLE half_done (id INTEGER);\nSELECT no_such_function();\n',
      }
      await assert.rejects(migrate(db, [...migrations, broken]), /no_such_function/)
      assert.deepEqual(await publicTables(db), expectedTables)
      const rows = await db.query('SELECT 1 FROM schema_migrations WHERE version = $1', [broken.version])
      assert.equal(rows.length, 0)
    })
  })
}

/** Describes the schema in terms both databases must agree on. */
async function schemaOf(db: Database) {
  const columns = await db.query(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, character_maximum_length
     FROM information_schema.columns WHERE table_schema = 'public'
     ORDER BY table_name, ordinal_position`,
  )
  const indexes = await db.query(
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`,
  )
  const constraints = await db.query(
    `SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace
       AND contype <> 'n' -- PostgreSQL 18 (PGlite) lists NOT NULL here too; the columns above cover it
       -- A constraint's copies on partitions, and a foreign key's on each partition it refers to,
       -- are made by the server, and their names differ between PostgreSQL versions.
       AND conparentid = 0
     ORDER BY 1, 2`,
  )
  const enums = await db.query(
    `SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
     WHERE t.typnamespace = 'public'::regnamespace ORDER BY t.typname, e.enumsortorder`,
  )
  return { columns, indexes, constraints, enums }
}

describe('migrate gives the same schema on PGlite and PostgreSQL', () => {
  const dbs = new Map<DatabaseKind, Database>()
  before(async () => {
    for (const kind of databaseKinds) dbs.set(kind, await openTestDatabase(kind))
  })
  after(async () => {
    for (const db of dbs.values()) await db.close()
  })

  for (const part of ['columns', 'indexes', 'constraints', 'enums'] as const) {
    it(`same ${part}`, async () => {
      const [pglite, postgres] = await Promise.all(
        databaseKinds.map(async (kind) => (await schemaOf(dbs.get(kind)!))[part]),
      )
      assert.ok((pglite?.length ?? 0) > 0, `PGlite has ${part}`)
      assert.deepEqual(pglite, postgres)
    })
  }
})

describe('migrate from several processes at once [postgres]', () => {
  it('applies each migration once, and every process starts', async () => {
    const base = postgresTestUrl()
    const url = await createTestDatabase(base)
    // Four processes' worth: each its own pool, as server replicas started together have.
    const dbs = await Promise.all(
      Array.from({ length: 4 }, () => openDatabase({ databaseUrl: url, poolSize: 2 })),
    )
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db)))
      assert.deepEqual(
        applied.flat().sort((a, b) => a - b),
        migrations.map((m) => m.version),
        'every version applied by exactly one of them',
      )
      const rows = await dbs[0]!.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      )
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        migrations.map((m) => m.version),
      )
    } finally {
      await Promise.all(dbs.map((db) => db.close()))
      await dropTestDatabase(base, url)
    }
  })
})

for (const kind of databaseKinds) {
  describe(`migration 0011 partitions the results stored before it [${kind}]`, () => {
    it('keeps every row, dates each child row with its result, and carries the ids on', async () => {
      const db = await openTestDatabase(kind, { migrate: false })
      try {
        await migrate(db, migrations.slice(0, 10))
        // Two results in two months, each with a row in every table that hangs off a result.
        await db.exec(`
          INSERT INTO peers (multi_hash) VALUES ('host'), ('remote');
          INSERT INTO authorizations (api_key_sha256, key_prefix, username) VALUES ('\\x01', 'pk_', 'u');
          INSERT INTO clients (peer_id, authorization_id) VALUES (1, 1);
          INSERT INTO multi_addresses (maddr, is_relay, is_public) VALUES ('/ip4/11.0.0.1/tcp/4001', false, true);
          INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns,
            outcome, ended_at, attempt_count, report_sha256, created_at)
          VALUES (1, 2, now(), now(), true, 'SUCCESS', now(), 1, '\\x0a', '2025-03-04T05:06:07.123456Z'),
                 (1, 2, now(), now(), false, 'FAILED', now(), 1, '\\x0b', '2025-04-01T00:00:00Z');
          INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, ended_at, elapsed_time, outcome)
          VALUES (1, 1, now(), now(), 1, 'SUCCESS'), (2, 1, now(), now(), 1, 'FAILED');
          INSERT INTO hole_punch_attempts_x_multi_addresses VALUES (1, 1), (2, 1);
          INSERT INTO hole_punch_results_x_multi_addresses VALUES (1, 1, 'INITIAL'), (2, 1, 'FINAL');
          INSERT INTO hole_punch_results_x_listen_multi_addresses VALUES (1, 1), (2, 1);
          INSERT INTO latency_measurements (hole_punch_result_id, remote_id, multi_address_id, mtype, agent_version,
            protocols, rtts, rtt_errs, success_count)
          VALUES (1, 2, 1, 'TO_RELAY', 'a', '{}', '{0.1}', '{""}', 1), (2, 2, 1, 'TO_RELAY', 'a', '{}', '{0.2}', '{""}', 1);
          INSERT INTO port_mappings (hole_punch_result_id, internal_port, external_port, protocol, addr, addr_network)
          VALUES (1, 4001, 40001, 'tcp', '11.0.0.2', 'ip4'), (2, 4001, 40002, 'tcp', '11.0.0.2', 'ip4');
          INSERT INTO network_information (hole_punch_result_id, supports_ipv6) VALUES (1, true), (2, false);
          INSERT INTO client_nat_behaviours VALUES (1, 'tcp', 4, 'unknown', NULL, 1, 1), (2, 'quic', 4, 'unknown', NULL, 1, 1);
        `)
        assert.deepEqual(await migrate(db, migrations.slice(0, 11)), [11])

        const months = await db.query<{ id: number; partition: string; created_at: string }>(
          `SELECT id::int, tableoid::regclass::text AS partition, created_at::text FROM hole_punch_results ORDER BY id`,
        )
        assert.deepEqual(
          months.map((r) => [r.id, r.partition]),
          [
            [1, 'hole_punch_results_2025_03'],
            [2, 'hole_punch_results_2025_04'],
          ],
        )
        for (const child of RESULT_TABLES.filter((t) => t !== 'hole_punch_results')) {
          const rows = await db.query<{ partition: string; t: string }>(
            `SELECT tableoid::regclass::text AS partition, result_created_at::text AS t FROM ${child} ORDER BY 2`,
          )
          assert.deepEqual(
            rows,
            [
              { partition: `${child}_2025_03`, t: months[0]!.created_at },
              { partition: `${child}_2025_04`, t: months[1]!.created_at },
            ],
            child,
          )
        }
        const digests = await db.query<{ d: string }>(
          `SELECT encode(report_sha256, 'hex') AS d FROM hole_punch_report_digests ORDER BY 1`,
        )
        assert.deepEqual(
          digests.map((r) => r.d),
          ['0a', '0b'],
        )
        // The sequences go on where the old tables left them.
        const [next] = await db.query<{ result: number; attempt: number }>(
          `SELECT nextval('hole_punch_results_id_seq')::int AS result, nextval('hole_punch_attempts_id_seq')::int AS attempt`,
        )
        assert.deepEqual(next, { result: 3, attempt: 3 })
        // No table of the old schema is left behind.
        assert.deepEqual(await publicTables(db), expectedTables)
      } finally {
        await db.close()
      }
    })
  })
}

for (const kind of databaseKinds) {
  describe(`migration 0012 leaves the report rows without keys to peers, addresses and clients [${kind}]`, () => {
    it('drops exactly those foreign keys, on the tables and their partitions', async () => {
      const db = await openTestDatabase(kind)
      try {
        const keys = await db.query<{ table_name: string; refers_to: string }>(
          `SELECT conrelid::regclass::text AS table_name, confrelid::regclass::text AS refers_to
           FROM pg_constraint
           WHERE contype = 'f' AND confrelid::regclass::text IN ('peers', 'multi_addresses', 'clients')
           ORDER BY 1, 2`,
        )
        const reportTables = new Set<string>(RESULT_TABLES)
        assert.deepEqual(
          keys.filter((k) => [...reportTables].some((t) => k.table_name.startsWith(t))),
          [],
          'no result table or partition keeps one',
        )
        // The honeypot's, the allocations' and the clients' own keys stay.
        for (const table of ['allocations', 'clients', 'connection_events', 'remote_candidates'])
          assert.ok(
            keys.some((k) => k.table_name === table),
            `${table} keeps its foreign keys`,
          )
      } finally {
        await db.close()
      }
    })
  })
}

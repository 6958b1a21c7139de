// `punchr report`, `punchr export` and the dashboard line of `punchr up`, run as a user runs
// them (bin/punchr.js) on the seeded data set of test/support/dashboard-seed.ts, on the
// embedded database (a data folder) and on PostgreSQL.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
import { EXPORT_TABLES, microsToIso } from '../../src/dashboard/export-tables.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { PUNCHR_BIN, punchr } from '../support/cli.js'
import { seedDashboard } from '../support/dashboard-seed.js'
import { databaseKinds, postgresTestUrl } from '../support/databases.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'

/** A small RFC 4180 reader: enough to read back what `punchr export` and `report` write. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: (string | null)[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\n') {
      row.push(field)
      rows.push(row as string[])
      row = []
      field = ''
    } else field += c
  }
  return rows
}

/** CSV rows as objects keyed by the header. */
function csvObjects(file: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'))
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])))
}

for (const kind of databaseKinds) {
  describe(`punchr report and export [${kind}]`, () => {
    let dir: string
    let flags: string[]
    let db: Database
    let postgresUrl: string | undefined

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'punchr-dashboard-cli-'))
      if (kind === 'pglite') {
        flags = ['--data-dir', join(dir, 'data')]
        db = await openDatabase({ dataDir: join(dir, 'data') })
      } else {
        postgresUrl = await createTestDatabase(postgresTestUrl())
        flags = ['--database-url', postgresUrl]
        db = await openDatabase({ databaseUrl: postgresUrl, poolSize: 2 })
      }
      await migrate(db)
      await seedDashboard(db)
      // The CLI opens the database itself; PGlite is single-process.
      await db.close()
    })
    after(async () => {
      if (postgresUrl !== undefined) await dropTestDatabase(postgresTestUrl(), postgresUrl)
      rmSync(dir, { recursive: true, force: true })
    })

    it('report (Markdown, last 7 days): the key tables with the seeded numbers', () => {
      const res = punchr(['report', ...flags])
      assert.equal(res.code, 0, res.stderr)
      const md = res.stdout
      assert.match(md, /^# punchr campaign report\n/)
      const row = (cells: string) => assert.ok(md.includes(cells), `missing row ${cells} in\n${md}`)
      assert.match(md, /## All results \(3 client hosts, 4 remotes\)/)
      row('| all   | 10      | 5       | 3      | 62.5 % (5/8)')
      row('30.6 % – 86.3 %')
      row('| SUCCESS             | 5       |')
      row('| NO_STREAM           | 1       |')
      assert.match(md, /\| 1 +\| 3 +\| 60\.0 % \(3\/5\) +\| 23\.1 % – 88\.2 % \|/)
      assert.match(md, /\| tcp +\| 4 +\| 1 +\| 3 +\| 25\.0 % \(1\/4\)/)
      assert.match(md, /\| quic +\| 2 +\| 2 +\| 0 +\| 100\.0 % \(2\/2\)/)
      assert.match(md, /\| kubo\/0\.25\.0 +\| 4 +\| 4 +\| 0 +\| 100\.0 % \(4\/4\)/)
      assert.match(
        md,
        /## By client country\n\n\| group +\| results \| SUCCESS \| FAILED .*\n.*\n\| DE +\| 4 +\| 3 +\| 1 /,
      )
      assert.match(md, /## By remote country\n\n.*\n.*\n\| FR +\| 4 +\| 4 +\| 0 /)
      // By client implementation: a note on the normalised rows, then one row per
      // implementation and one per implementation's normalised results (seed: hosts A1 ts, A2
      // Go, B1 Rust; #4, #7, #9 normalised).
      const impl = /## By client implementation\n\n(.*)\n\n((?:\|.*\n)+)/.exec(md)
      assert.ok(impl !== null, `no client implementation table in\n${md}`)
      assert.match(impl[1]!, /"\(normalised\)".*quirks.*corrected before storing/)
      assert.deepEqual(
        impl[2]!
          .trim()
          .split('\n')
          .slice(2)
          .map((line) =>
            line
              .split('|')
              .slice(1, 6)
              .map((c) => c.trim()),
          ),
        [
          ['punchr-ts', '4', '3', '1', '75.0 % (3/4)'],
          ['punchr-rust (normalised)', '2', '1', '1', '50.0 % (1/2)'],
          ['punchr-go', '2', '0', '1', '0.0 % (0/1)'],
          ['punchr-go (normalised)', '1', '1', '0', '100.0 % (1/1)'],
          ['punchr-rust', '1', '0', '0', '–'],
        ],
      )
    })

    it('report --format csv: one long table', () => {
      const res = punchr(['report', '--format', 'csv', '--since', '30d', ...flags])
      assert.equal(res.code, 0, res.stderr)
      const [header, ...rows] = parseCsv(res.stdout)
      assert.deepEqual(header, [
        'table',
        'group',
        'results',
        'success',
        'failed',
        'share',
        'ci_low',
        'ci_high',
      ])
      const find = (table: string, group: string) => rows.find((r) => r[0] === table && r[1] === group)
      // 30 days: the two results of 10 days ago count too.
      const all = find('overview', 'all')!
      assert.deepEqual(all.slice(0, 6), ['overview', 'all', '12', '6', '4', '0.6'])
      assert.ok(Math.abs(Number(all[6]) - 0.3126738) < 1e-6, `ci_low ${all[6]} (Wilson 6/10)`)
      assert.deepEqual(find('outcome', 'FAILED'), ['outcome', 'FAILED', '4', '', '', '', '', ''])
      assert.deepEqual(find('success-attempt', '1')!.slice(0, 6), [
        'success-attempt',
        '1',
        '4',
        '',
        '',
        `${4 / 6}`,
      ])
      assert.deepEqual(find('transport', 'tcp')!.slice(0, 5), ['transport', 'tcp', '6', '2', '4'])
      assert.deepEqual(find('remote-country', 'unknown')!.slice(0, 6), [
        'remote-country',
        'unknown',
        '2',
        '0',
        '0',
        '',
      ])
      assert.deepEqual(
        rows.filter((r) => r[0] === 'client-implementation').map((r) => r.slice(1, 6)),
        [
          ['punchr-ts', '5', '4', '1', '0.8'],
          ['punchr-rust (normalised)', '2', '1', '1', '0.5'],
          ['punchr-go', '2', '0', '1', '0'],
          ['punchr-rust', '2', '0', '1', '0'],
          ['punchr-go (normalised)', '1', '1', '0', '1'],
        ],
      )
      const rust = find('client-implementation', 'punchr-rust (normalised)')!
      // Wilson 95 % of 1/2.
      assert.ok(Math.abs(Number(rust[6]) - 0.0945312) < 1e-6, `ci_low ${rust[6]}`)
      assert.ok(Math.abs(Number(rust[7]) - 0.9054688) < 1e-6, `ci_high ${rust[7]}`)
    })

    it('report rejects a bad range with exit code 2', () => {
      const res = punchr(['report', '--since', 'last tuesday', ...flags])
      assert.equal(res.code, 2)
      assert.match(res.stderr, /since: "last tuesday" is not a time/)
    })

    for (const format of ['csv', 'parquet'] as const) {
      it(`export --format ${format}: every table, every row`, async () => {
        const out = join(dir, `export-${format}`)
        const res = punchr(['export', '--format', format, '--out', out, ...flags])
        assert.equal(res.code, 0, res.stderr)
        assert.match(res.stdout, /^results\t12 rows\t.*results\.(csv|parquet)\nattempts\t15 rows\t/)
        assert.match(res.stdout, /latencies\t8 rows\t/)
      })
    }

    it('export round trip: CSV and Parquet read back give the same rows and values', async () => {
      const parquet = async (table: string) =>
        (await parquetReadObjects({
          file: await asyncBufferFromFile(join(dir, 'export-parquet', `${table}.parquet`)),
          // Raw microseconds: a Date would drop them.
          parsers: { timestampFromMicroseconds: (us: bigint) => us },
        })) as Record<string, unknown>[]
      const csv = (table: string) => csvObjects(join(dir, 'export-csv', `${table}.csv`))

      // Every value of every row: the CSV text equals the Parquet value written as text (a
      // list of strings joined by ';').
      const lists = new Set(
        EXPORT_TABLES.flatMap((t) => t.columns.filter((c) => c.type === 'string-list').map((c) => c.name)),
      )
      const asText = (name: string, v: unknown) =>
        v === null || v === undefined
          ? ''
          : typeof v === 'bigint' && /_at$/.test(name)
            ? microsToIso(v)
            : lists.has(name) && Array.isArray(v)
              ? v.join(';')
              : typeof v === 'object'
                ? JSON.stringify(v)
                : String(v)
      const counts: Record<string, number> = {}
      for (const table of ['results', 'attempts', 'latencies', 'peers']) {
        const [fromCsv, fromParquet] = [csv(table), await parquet(table)]
        assert.equal(fromCsv.length, fromParquet.length, `${table}: rows`)
        counts[table] = fromCsv.length
        for (const [i, row] of fromParquet.entries()) {
          const text = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, asText(k, v)]))
          assert.deepEqual(fromCsv[i], text, `${table} row ${i}`)
        }
      }
      assert.deepEqual(counts, { results: 12, attempts: 15, latencies: 8, peers: counts.peers })

      // …and both hold what the database holds.
      const results = await parquet('results')
      assert.deepEqual(
        results.map((r) => [
          r.outcome,
          r.success_attempt ?? null,
          r.client_country ?? null,
          r.remote_country ?? null,
        ]),
        [
          ['SUCCESS', 1, 'DE', 'FR'],
          ['SUCCESS', 2, 'DE', 'DE'],
          ['FAILED', null, 'DE', 'US'],
          ['SUCCESS', 1, 'US', 'FR'],
          ['FAILED', null, 'US', 'DE'],
          ['NO_STREAM', null, 'US', null],
          ['SUCCESS', 1, null, 'FR'],
          ['NO_CONNECTION', null, null, null],
          ['FAILED', null, null, 'DE'],
          ['SUCCESS', 3, 'DE', 'FR'],
          ['SUCCESS', 1, 'DE', 'FR'],
          ['FAILED', null, null, 'DE'],
        ],
      )
      assert.deepEqual(results[1]!.protocol_filter, [4, 461])
      assert.equal(results[0]!.client_asn, 3320n)
      // The reporting client and its normalised quirks: a list of strings in Parquet (empty
      // when stored as sent), joined by ';' in CSV.
      assert.deepEqual(
        results.map((r) => [r.client_implementation, r.quirks]),
        [
          ['punchr-ts', []],
          ['punchr-ts', []],
          ['punchr-ts', []],
          ['punchr-go', ['go-attempt-opened-late']],
          ['punchr-go', []],
          ['punchr-go', []],
          ['punchr-rust', ['rust-elapsed-microseconds']],
          ['punchr-rust', []],
          ['punchr-rust', ['rust-elapsed-microseconds']],
          ['punchr-ts', []],
          ['punchr-ts', []],
          ['punchr-rust', []],
        ],
      )
      const csvResults = csv('results')
      assert.deepEqual(
        csvResults.map((r) => r.quirks),
        [
          '',
          '',
          '',
          'go-attempt-opened-late',
          '',
          '',
          'rust-elapsed-microseconds',
          '',
          'rust-elapsed-microseconds',
          '',
          '',
          '',
        ],
      )
      assert.deepEqual(Object.keys(csvResults[0]!).slice(-5), [
        'client_implementation',
        'quirks',
        'client_nat_mapping',
        'client_nat_behaviours',
        'client_port_mappings',
      ])
      assert.match(
        readFileSync(join(dir, 'export-csv', 'results.csv'), 'utf8'),
        /,punchr-ts,"",endpoint-independent,/,
      )
      // Our client's NAT mapping on the round's path (the seed gives punchr-ts results one in
      // turn), every path it classified, and the port mappings held (every fourth result).
      assert.deepEqual(
        results.map((r) => r.client_nat_mapping),
        [
          'endpoint-independent',
          'address-and-port-dependent',
          'unknown',
          null,
          null,
          null,
          null,
          null,
          null,
          'endpoint-independent',
          'address-and-port-dependent',
          null,
        ],
      )
      assert.deepEqual(results[1]!.client_nat_behaviours, [
        {
          transport: 'tcp',
          ip_version: 4,
          mapping: 'address-and-port-dependent',
          port_preserved: true,
          observations: 4,
          observer_ips: 2,
        },
      ])
      assert.deepEqual(
        results
          .map((r, i) => [i, r.client_port_mappings !== null])
          .filter(([, mapped]) => mapped)
          .map(([i]) => i),
        [0, 4, 8],
      )
      assert.deepEqual(csvResults[4]!.client_port_mappings, JSON.stringify(results[4]!.client_port_mappings))
      const latencies = await parquet('latencies')
      assert.deepEqual(latencies[4]!.rtts, [0.15, 0.5])
      assert.deepEqual(latencies[4]!.rtt_errs, ['', 'timeout'])
      assert.equal(latencies[4]!.rtt_avg, 0.15)
      const attempts = csv('attempts')
      assert.match(attempts[0]!.opened_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      assert.equal(attempts[0]!.start_rtt, '0.05')
      assert.equal(attempts[0]!.error, '', 'a NULL error is an empty CSV field')
      const failed = attempts.find((a) => a.outcome === 'FAILED')!
      assert.equal(failed.error, 'dial tcp 192.168.0.5:4001: i/o timeout')

      const db2 =
        postgresUrl === undefined
          ? await openDatabase({ dataDir: flags[1] })
          : await openDatabase({ databaseUrl: postgresUrl, poolSize: 1 })
      try {
        const [peers] = await db2.query<{ n: number }>('SELECT count(*)::int AS n FROM peers')
        assert.equal(counts.peers, peers!.n)
      } finally {
        await db2.close()
      }
    })

    it('export --since limits results, attempts and latencies to the range', () => {
      const out = join(dir, 'export-week')
      const res = punchr(['export', '--format', 'csv', '--since', '7d', '--out', out, ...flags])
      assert.equal(res.code, 0, res.stderr)
      assert.equal(csvObjects(join(out, 'results.csv')).length, 10)
      assert.equal(csvObjects(join(out, 'attempts.csv')).length, 13)
    })

    it('export without --out is a usage error', () => {
      const res = punchr(['export', ...flags])
      assert.equal(res.code, 2)
      assert.match(res.stderr, /export needs --out <folder>/)
    })

    if (kind === 'pglite') {
      it('report on a data folder another process holds says so, and where the numbers are meanwhile', async () => {
        const holder = await openDatabase({ dataDir: flags[1] })
        try {
          const res = punchr(['report', ...flags])
          assert.equal(res.code, 2)
          assert.match(res.stderr, /in use by process \d+/)
          assert.match(
            res.stderr,
            /punchr report reads the database itself; while the server runs, its dashboard/,
          )
        } finally {
          await holder.close()
        }
      })
    }
  })
}

describe('punchr up prints the dashboard URL', () => {
  it('after the server lines, on the server HTTP port, and the page answers there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'punchr-dashboard-up-'))
    const child = spawn(
      process.execPath,
      [
        PUNCHR_BIN,
        'up',
        '--data-dir',
        dir,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--http-port',
        '0',
        '--honeypot-port',
        '0',
        '--honeypot-http-port',
        '0',
        '--bootstrap-peers',
        '',
      ],
      { env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      const lines: string[] = []
      for await (const line of createInterface({ input: child.stdout! })) {
        lines.push(line)
        if (line.startsWith('honeypot metrics on ')) break
      }
      assert.match(lines[0]!, /^server gRPC on 127\.0\.0\.1:\d+$/)
      const http = /^server HTTP on (http:\/\/127\.0\.0\.1:\d+)$/.exec(lines[1]!)?.[1]
      assert.ok(http !== undefined, lines.join('\n'))
      assert.equal(lines[2], `dashboard on ${http}/`)
      assert.ok(lines.some((l) => l.startsWith('honeypot listening on ')))
      const page = await fetch(`${http}/`)
      assert.equal(page.status, 200)
      assert.match(await page.text(), /<title>punchr/)
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

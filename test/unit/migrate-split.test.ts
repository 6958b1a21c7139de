import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readMigrations, splitStatements } from '../../src/db/migrate.js'

/** A statement without its dollar-quoted bodies (PL/pgSQL), which have statements of their own. */
const withoutBodies = (sql: string) => sql.replace(/\$(\w*)\$[\s\S]*?\$\1\$/g, '$$$$')

/** The SQL with `--` comments removed, as splitStatements sees it. */
function withoutComments(sql: string): string {
  return sql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
}

describe('splitStatements', () => {
  const cases: { name: string; sql: string; want: string[] }[] = [
    { name: 'empty script', sql: '', want: [] },
    { name: 'only comments', sql: '-- nothing here;\n-- at all\n', want: [] },
    { name: 'one statement', sql: 'CREATE TABLE a (id INT);\n', want: ['CREATE TABLE a (id INT)'] },
    { name: 'last statement without semicolon', sql: 'SELECT 1;\nSELECT 2', want: ['SELECT 1', 'SELECT 2'] },
    {
      name: 'multi-line statement with trailing comments',
      sql: 'CREATE TABLE a (\n  id INT, -- the id; unique\n  b TEXT  -- b\n);\nCREATE INDEX a_b ON a (b);\n',
      want: ['CREATE TABLE a (\n  id INT, \n  b TEXT  \n)', 'CREATE INDEX a_b ON a (b)'],
    },
    { name: 'semicolon followed by spaces', sql: 'SELECT 1;   \nSELECT 2;', want: ['SELECT 1', 'SELECT 2'] },
    { name: 'a semicolon not ending a line stays', sql: "SELECT ';' AS x;\n", want: ["SELECT ';' AS x"] },
    {
      name: 'a dollar-quoted body is one statement with its line-ending semicolons',
      sql: 'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND\n$$;\nSELECT f();\n',
      want: [
        'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND\n$$',
        'SELECT f()',
      ],
    },
    {
      name: 'tagged dollar quotes, and a DO block',
      sql: "DO $body$ BEGIN\n  PERFORM 1;\nEND $body$;\nDO $$ BEGIN PERFORM ';'; END $$;\n",
      want: ['DO $body$ BEGIN\n  PERFORM 1;\nEND $body$', "DO $$ BEGIN PERFORM ';'; END $$"],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(splitStatements(c.sql), c.want)
    })
  }
})

describe('every shipped migration splits cleanly', () => {
  const migrations = readMigrations()

  it('there are migrations, numbered from 1', () => {
    assert.ok(migrations.length > 0)
    assert.deepEqual(
      migrations.map((m) => m.version),
      migrations.map((_, i) => i + 1),
    )
  })

  for (const m of migrations) {
    describe(`${String(m.version).padStart(4, '0')}_${m.name}.sql`, () => {
      const statements = splitStatements(m.sql)

      it('has statements, none empty', () => {
        assert.ok(statements.length > 0)
        for (const s of statements) assert.notEqual(s.trim(), '')
      })

      it('splits at every CREATE: one statement per CREATE at the start of a line', () => {
        const creates = withoutBodies(withoutComments(m.sql)).match(/^\s*CREATE\b/gim) ?? []
        const createStatements = statements.filter((s) => /^CREATE\b/i.test(s))
        assert.equal(createStatements.length, creates.length)
        for (const s of statements) {
          // Two statements glued together would show up as a second CREATE inside one.
          assert.equal(
            (withoutBodies(s).match(/^\s*CREATE\b/gim) ?? []).length <= 1,
            true,
            `one CREATE per statement:\n${s}`,
          )
        }
      })

      it('leaves no statement boundary inside a statement', () => {
        for (const s of statements) {
          assert.doesNotMatch(
            withoutBodies(s),
            /;\s*$/m,
            `statement still contains a line-ending semicolon:\n${s}`,
          )
        }
      })

      it('keeps string literals and parentheses balanced in every statement', () => {
        // A split inside a literal or a column list would leave one of these odd.
        for (const s of statements) {
          assert.equal((s.match(/'/g) ?? []).length % 2, 0, `unbalanced quote:\n${s}`)
          assert.equal(
            (s.match(/\(/g) ?? []).length,
            (s.match(/\)/g) ?? []).length,
            `unbalanced parentheses:\n${s}`,
          )
        }
      })

      it('starts every statement with a DDL or DML keyword', () => {
        for (const s of statements) {
          assert.match(s, /^(CREATE|ALTER|DROP|COMMENT|INSERT|UPDATE|DELETE|GRANT|REVOKE|DO|SELECT)\b/i, s)
        }
      })

      it('has no transaction control (migrate wraps each file in one)', () => {
        for (const s of statements)
          assert.doesNotMatch(s, /^(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\b/i, s)
      })
    })
  }
})

import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { MAPPING_BEHAVIOURS } from '../../src/client/nat-behaviour.js'
import type { AttemptOutcomeName, HolePunchOutcomeName, LatencyTypeName } from '../../src/db/hole-punches.js'
import {
  HolePunchAttemptOutcome,
  HolePunchAttemptOutcomeSchema,
  HolePunchOutcome,
  HolePunchOutcomeSchema,
  LatencyMeasurementType,
  LatencyMeasurementTypeSchema,
  NatMappingBehaviour,
} from '../../src/gen/punchr_pb.js'

// Enums mirror the proto enums; this test keeps proto, SQL and TypeScript enums in sync.

/** The repository root: this file runs as dist/test/unit/enums.test.js. */
const ROOT = new URL('../../../', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8')

// ── the TypeScript unions of src/db/hole-punches.ts ─────────────────────────────────────────
// They are types only, so the runtime lists below are tied to them at compile time: each list
// `satisfies` its union, and `Equal` fails the build if the union has a name the list lacks
// (or the generated enum's keys differ from the union).

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

const HOLE_PUNCH_OUTCOME_NAMES = [
  'UNKNOWN',
  'NO_CONNECTION',
  'NO_STREAM',
  'CONNECTION_REVERSED',
  'CANCELLED',
  'FAILED',
  'SUCCESS',
] as const satisfies readonly HolePunchOutcomeName[]
const ATTEMPT_OUTCOME_NAMES = [
  'UNKNOWN',
  'DIRECT_DIAL',
  'PROTOCOL_ERROR',
  'CANCELLED',
  'TIMEOUT',
  'FAILED',
  'SUCCESS',
] as const satisfies readonly AttemptOutcomeName[]
const LATENCY_TYPE_NAMES = [
  'TO_RELAY',
  'TO_REMOTE_THROUGH_RELAY',
  'TO_REMOTE_AFTER_HOLE_PUNCH',
] as const satisfies readonly LatencyTypeName[]

const compileTimeChecks: true[] = [
  true satisfies Equal<(typeof HOLE_PUNCH_OUTCOME_NAMES)[number], HolePunchOutcomeName>,
  true satisfies Equal<(typeof ATTEMPT_OUTCOME_NAMES)[number], AttemptOutcomeName>,
  true satisfies Equal<(typeof LATENCY_TYPE_NAMES)[number], LatencyTypeName>,
  true satisfies Equal<keyof typeof HolePunchOutcome, HolePunchOutcomeName>,
  true satisfies Equal<keyof typeof HolePunchAttemptOutcome, AttemptOutcomeName>,
  true satisfies Equal<keyof typeof LatencyMeasurementType, LatencyTypeName>,
]

// ── parsers ─────────────────────────────────────────────────────────────────────────────────

interface EnumValue {
  name: string
  number: number
}

/** SCREAMING_SNAKE_CASE of a proto enum name: HolePunchOutcome → HOLE_PUNCH_OUTCOME. */
const screamingSnake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()

/**
 * The enums of a .proto file, value names without the enum-name prefix (as protobuf-es
 * strips it: only when every value carries it).
 */
function parseProtoEnums(text: string): Map<string, EnumValue[]> {
  const noComments = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  const enums = new Map<string, EnumValue[]>()
  for (const [, enumName, body] of noComments.matchAll(/\benum\s+(\w+)\s*\{([^}]*)\}/g)) {
    const values = [...body!.matchAll(/(\w+)\s*=\s*(-?\d+)\s*(?:\[[^\]]*\])?\s*;/g)].map(([, name, n]) => ({
      name: name!,
      number: Number(n),
    }))
    const prefix = `${screamingSnake(enumName!)}_`
    const strip = values.every((v) => v.name.startsWith(prefix))
    enums.set(
      enumName!,
      values.map((v) => ({ name: strip ? v.name.slice(prefix.length) : v.name, number: v.number })),
    )
  }
  return enums
}

const unquote = (literal: string) => literal.slice(1, -1).replace(/''/g, "'")

/**
 * The enum types the migrations create, in PostgreSQL's label order, after applying them in
 * file order: `CREATE TYPE t AS ENUM (…)` and `ALTER TYPE t ADD VALUE [IF NOT EXISTS] 'x'
 * [BEFORE|AFTER 'y']`, `ALTER TYPE t RENAME VALUE 'x' TO 'y'`, `DROP TYPE t`.
 */
function parseSqlEnums(files: readonly string[]): Map<string, string[]> {
  const types = new Map<string, string[]>()
  const literal = `'(?:[^']|'')*'`
  const typeName = '(?:"?\\w+"?\\.)?"?(\\w+)"?'
  for (const text of files) {
    const sql = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--.*$/gm, '')
    const statements = new RegExp(
      [
        `CREATE\\s+TYPE\\s+${typeName}\\s+AS\\s+ENUM\\s*\\(([^)]*)\\)`,
        `ALTER\\s+TYPE\\s+${typeName}\\s+ADD\\s+VALUE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(${literal})(?:\\s+(BEFORE|AFTER)\\s+(${literal}))?`,
        `ALTER\\s+TYPE\\s+${typeName}\\s+RENAME\\s+VALUE\\s+(${literal})\\s+TO\\s+(${literal})`,
        `DROP\\s+TYPE\\s+(?:IF\\s+EXISTS\\s+)?${typeName}`,
      ].join('|'),
      'gi',
    )
    for (const m of sql.matchAll(statements)) {
      const [, createName, createBody, addName, addValue, where, anchor, renName, from, to, dropName] = m
      if (createName !== undefined) {
        const labels = [...createBody!.matchAll(new RegExp(literal, 'g'))].map(([l]) => unquote(l))
        types.set(createName.toLowerCase(), labels)
      } else if (addName !== undefined) {
        const labels = types.get(addName.toLowerCase())
        assert.ok(labels, `ALTER TYPE ${addName} before its CREATE TYPE`)
        const value = unquote(addValue!)
        if (labels.includes(value)) continue // IF NOT EXISTS
        if (where === undefined) labels.push(value)
        else {
          const i = labels.indexOf(unquote(anchor!))
          assert.ok(i >= 0, `ALTER TYPE ${addName} ${where} unknown label ${anchor}`)
          labels.splice(where.toUpperCase() === 'BEFORE' ? i : i + 1, 0, value)
        }
      } else if (renName !== undefined) {
        const labels = types.get(renName.toLowerCase())
        assert.ok(labels, `ALTER TYPE ${renName} before its CREATE TYPE`)
        labels[labels.indexOf(unquote(from!))] = unquote(to!)
      } else if (dropName !== undefined) {
        types.delete(dropName.toLowerCase())
      }
    }
  }
  return types
}

/** The string-literal members of `export type <name> = 'A' | 'B'` in a TypeScript source. */
function parseUnion(source: string, name: string): string[] {
  const match = new RegExp(`export\\s+type\\s+${name}\\s*=([^=]*?)(?:\\n\\s*\\n|\\nexport\\s)`).exec(source)
  assert.ok(match, `type ${name} not found`)
  return [...match[1]!.matchAll(/'([^']*)'/g)].map(([, v]) => v!)
}

// ── the sources ─────────────────────────────────────────────────────────────────────────────

const protoEnums = parseProtoEnums(read('proto/punchr.proto'))
const migrationFiles = readdirSync(new URL('sql/migrations/', ROOT))
  .filter((f) => f.endsWith('.sql'))
  .sort()
const sqlEnums = parseSqlEnums(migrationFiles.map((f) => read(`sql/migrations/${f}`)))
const holePunchesSource = read('src/db/hole-punches.ts')

/** Names of a numeric TS enum in number order. */
const tsEnumNames = (e: Record<string, string | number>) =>
  Object.entries(e)
    .filter(([, v]) => typeof v === 'number')
    .sort(([, a], [, b]) => Number(a) - Number(b))
    .map(([k]) => k)

const ENUMS = [
  {
    proto: 'HolePunchOutcome',
    sql: 'hole_punch_outcome',
    union: 'HolePunchOutcomeName',
    names: HOLE_PUNCH_OUTCOME_NAMES,
    ts: HolePunchOutcome as unknown as Record<string, string | number>,
    schema: HolePunchOutcomeSchema,
  },
  {
    proto: 'HolePunchAttemptOutcome',
    sql: 'hole_punch_attempt_outcome',
    union: 'AttemptOutcomeName',
    names: ATTEMPT_OUTCOME_NAMES,
    ts: HolePunchAttemptOutcome as unknown as Record<string, string | number>,
    schema: HolePunchAttemptOutcomeSchema,
  },
  {
    proto: 'LatencyMeasurementType',
    sql: 'latency_measurement_type',
    union: 'LatencyTypeName',
    names: LATENCY_TYPE_NAMES,
    ts: LatencyMeasurementType as unknown as Record<string, string | number>,
    schema: LatencyMeasurementTypeSchema,
  },
]

describe('enums: proto ↔ SQL ↔ TypeScript', () => {
  it('the compile-time checks hold (see Equal above)', () => {
    assert.equal(compileTimeChecks.length, 6)
  })

  it('every proto enum is covered by this test', () => {
    assert.deepEqual(
      [...protoEnums.keys()].sort(),
      [...ENUMS.map((e) => e.proto), 'NatMappingBehaviour'].sort(),
    )
  })

  // Stored as text (kebab-case, src/server/nat-behaviours.ts) under a CHECK constraint.
  it("NatMappingBehaviour: the client's names, the generated enum and client_nat_behaviours.mapping's CHECK agree", () => {
    const proto = protoEnums.get('NatMappingBehaviour')!
    assert.deepEqual(
      proto.map((v) => v.number),
      proto.map((_, i) => i),
    )
    const kebab = proto.map((v) => v.name.toLowerCase().replaceAll('_', '-')).sort()
    assert.deepEqual(kebab, [...MAPPING_BEHAVIOURS].sort())
    assert.deepEqual(
      tsEnumNames(NatMappingBehaviour as unknown as Record<string, string | number>),
      proto.map((v) => v.name),
    )
    const check = /mapping\s+TEXT\s+NOT NULL CHECK \(mapping IN \(([^)]*)\)\)/.exec(
      read('sql/migrations/0008_client_nat_behaviour.sql').replace(/--.*$/gm, ''),
    )
    assert.ok(check, 'the CHECK of client_nat_behaviours.mapping')
    assert.deepEqual([...check[1]!.matchAll(/'([^']*)'/g)].map(([, v]) => v).sort(), kebab)
  })

  for (const e of ENUMS) {
    describe(e.proto, () => {
      const proto = protoEnums.get(e.proto)
      const protoNames = proto?.map((v) => v.name) ?? []

      it('proto numbers are 0, 1, 2, … in declaration order', () => {
        assert.ok(proto, `enum ${e.proto} not in proto/punchr.proto`)
        assert.deepEqual(
          proto.map((v) => v.number),
          proto.map((_, i) => i),
        )
      })

      it(`SQL type ${e.sql} has the proto names in proto number order`, () => {
        const sql = sqlEnums.get(e.sql)
        assert.ok(sql, `CREATE TYPE ${e.sql} not found in sql/migrations (${migrationFiles.join(', ')})`)
        const byNumber = [...(proto ?? [])].sort((a, b) => a.number - b.number).map((v) => v.name)
        assert.deepEqual(sql, byNumber)
      })

      it('the generated TS enum has the same names and numbers', () => {
        assert.deepEqual(
          tsEnumNames(e.ts).map((name) => [name, e.ts[name]]),
          (proto ?? []).map((v) => [v.name, v.number]),
        )
        // The descriptor embedded in the generated code agrees with the .proto text.
        assert.deepEqual(
          e.schema.values.map((v) => [v.localName, v.number]),
          (proto ?? []).map((v) => [v.name, v.number]),
        )
      })

      it(`the union ${e.union} in src/db/hole-punches.ts lists the same names`, () => {
        assert.deepEqual(parseUnion(holePunchesSource, e.union), protoNames)
        assert.deepEqual([...e.names], protoNames)
      })
    })
  }

  it('multi_address_relationship is INITIAL, FINAL', () => {
    assert.deepEqual(sqlEnums.get('multi_address_relationship'), ['INITIAL', 'FINAL'])
  })
})

describe('enum parsers', () => {
  it('strip the enum-name prefix only when every value has it', () => {
    const enums = parseProtoEnums(`
      enum FooBar { FOO_BAR_A = 0; // comment
        FOO_BAR_B = 1; }
      enum Mixed { MIXED_A = 0; OTHER = 1; }
      /* enum Hidden { X = 0; } */
    `)
    assert.deepEqual(enums.get('FooBar'), [
      { name: 'A', number: 0 },
      { name: 'B', number: 1 },
    ])
    assert.deepEqual(
      enums.get('Mixed')?.map((v) => v.name),
      ['MIXED_A', 'OTHER'],
    )
    assert.equal(enums.has('Hidden'), false)
  })

  it('apply ALTER TYPE … ADD VALUE, BEFORE/AFTER, IF NOT EXISTS and RENAME in file order', () => {
    const enums = parseSqlEnums([
      `-- CREATE TYPE commented AS ENUM ('X');
       CREATE TYPE public.outcome AS ENUM ('UNKNOWN', 'FAILED');
       CREATE TYPE "other" AS ENUM ('A');`,
      `ALTER TYPE outcome ADD VALUE 'SUCCESS';
       ALTER TYPE outcome ADD VALUE IF NOT EXISTS 'SUCCESS';
       ALTER TYPE outcome ADD VALUE 'NO_CONNECTION' BEFORE 'FAILED';
       alter type outcome add value 'TIMEOUT' after 'FAILED';
       ALTER TYPE other RENAME VALUE 'A' TO 'B';`,
      `DROP TYPE IF EXISTS nothing; CREATE TYPE gone AS ENUM ('Z'); DROP TYPE gone;`,
    ])
    assert.deepEqual(enums.get('outcome'), ['UNKNOWN', 'NO_CONNECTION', 'FAILED', 'TIMEOUT', 'SUCCESS'])
    assert.deepEqual(enums.get('other'), ['B'])
    assert.equal(enums.has('commented'), false)
    assert.equal(enums.has('gone'), false)
  })
})

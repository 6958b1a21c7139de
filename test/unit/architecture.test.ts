import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, posix, relative, sep } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

// docs/ARCHITECTURE.md, "Code layout" (who may import whom): lib and gen import nothing of ours; db → lib; server →
// lib, db, gen, dashboard (its HTTP port serves the dashboard); honeypot → lib, db; client →
// lib, gen (never db); client/tracer → lib only; dashboard → lib, db; cli → anything and
// nothing imports cli; lab → anything but cli.
// A folder may always import itself. A new folder under src/ needs a rule here.

/** The repository root: this file runs as dist/test/unit/architecture.test.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SRC = join(ROOT, 'src')

const AREAS = [
  'lib',
  'gen',
  'db',
  'server',
  'honeypot',
  'client',
  'client/tracer',
  'quic',
  'dashboard',
  'service',
  'tray',
  'cli',
  'lab',
]
const RULES: Record<string, readonly string[]> = {
  lib: [],
  gen: [],
  db: ['lib'],
  server: ['lib', 'db', 'gen', 'dashboard'],
  honeypot: ['lib', 'db', 'quic'],
  client: ['lib', 'gen', 'client/tracer', 'quic'],
  // The tracer punches QUIC addresses too, and must tell them apart (dialer.ts).
  'client/tracer': ['lib', 'quic'],
  // The QUIC transport is a libp2p module of its own: nothing of ours but lib.
  quic: ['lib'],
  dashboard: ['lib', 'db'],
  // A user unit reads the API key where `punchr login` stores it (client/paths.ts).
  service: ['lib', 'client'],
  // The tray talks to the client only through its process, its flags and /status.json.
  tray: ['lib'],
  cli: AREAS,
  lab: AREAS.filter((a) => a !== 'cli'),
}

/** The area of a path relative to src/ (posix): its top folder, or client/tracer. */
function areaOf(srcPath: string): string {
  if (srcPath.startsWith('client/tracer/')) return 'client/tracer'
  const slash = srcPath.indexOf('/')
  return slash === -1 ? '(src root)' : srcPath.slice(0, slash)
}

/** Why `from` may not import `to`, or undefined when it may. */
function ruleViolation(from: string, to: string): string | undefined {
  if (from === to) return undefined
  const allowed = RULES[from]
  if (allowed === undefined) return `no rule for src/${from}/ (add one to test/unit/architecture.test.ts)`
  if (to === 'cli') return 'nothing imports cli'
  if (!allowed.includes(to)) {
    return `${from} may import ${allowed.length === 0 ? 'nothing of ours' : allowed.join(', ')}, not ${to}`
  }
  return undefined
}

/**
 * The source with comments blanked out and the contents of string and template literals
 * replaced by `_` (quotes kept), the same length as the source so that positions carry over.
 * So a `'src/**\/*.ts'` in a string starts no comment and an `import … from` inside a
 * string or comment is no import.
 */
function mask(source: string): string {
  let out = ''
  let i = 0
  const blank = (text: string) => text.replace(/[^\n]/g, ' ')
  while (i < source.length) {
    const c = source[i]!
    const next = source[i + 1]
    if (c === '/' && (next === '/' || next === '*')) {
      const end = next === '/' ? source.indexOf('\n', i) : source.indexOf('*/', i + 2)
      const stop = end === -1 ? source.length : next === '/' ? end : end + 2
      out += blank(source.slice(i, stop))
      i = stop
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1
      while (j < source.length && source[j] !== c && (c === '`' || source[j] !== '\n')) {
        j += source[j] === '\\' ? 2 : 1
      }
      // The closing quote, or the newline that ends an unterminated string.
      out += c + source.slice(i + 1, j).replace(/[^\n]/g, '_') + (source[j] ?? '')
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Module specifiers of import/export-from statements, side-effect imports and import(). */
function importSpecifiers(source: string): string[] {
  const code = mask(source)
  const found: { at: number; specifier: string }[] = []
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w$*\s{},]*?\s*\bfrom\s*)?(['"])(_+)\1/dg,
    /\bimport\s*\(\s*(['"])(_+)\1\s*\)/dg,
  ]
  for (const pattern of patterns) {
    for (const m of code.matchAll(pattern)) {
      const [start, end] = m.indices![2]!
      found.push({ at: start, specifier: source.slice(start, end) })
    }
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.specifier)
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return tsFiles(path)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

interface Edge {
  file: string // relative to src/, posix
  specifier: string
  from: string
  to: string
}

/** Every import of one of our modules by a file under src/. */
function ourImports(): Edge[] {
  const edges: Edge[] = []
  for (const path of tsFiles(SRC)) {
    const file = relative(SRC, path).split(sep).join('/')
    for (const specifier of importSpecifiers(readFileSync(path, 'utf8'))) {
      if (!specifier.startsWith('.')) continue // a package (or node:)
      const target = posix.normalize(posix.join(posix.dirname(file), specifier))
      if (target.startsWith('../')) continue // outside src/, e.g. package.json
      edges.push({ file, specifier, from: areaOf(file), to: areaOf(target) })
    }
  }
  return edges
}

describe('architecture: import rules (docs/ARCHITECTURE.md)', () => {
  const edges = ourImports()

  it('the scan sees the imports (not vacuously true)', () => {
    assert.ok(edges.length >= 50, `only ${edges.length} imports found under ${SRC}`)
    const has = (file: string, to: string) => edges.some((e) => e.file === file && e.to === to)
    assert.ok(has('server/validate.ts', 'db'), 'server/validate.ts → db')
    assert.ok(has('server/validate.ts', 'gen'), 'server/validate.ts → gen (an import at the bottom)')
    assert.ok(has('cli/main.ts', 'cli'))
    assert.ok(has('honeypot/honeypot.ts', 'db'), 'honeypot/honeypot.ts → db')
    assert.ok(has('cli/up.ts', 'honeypot'), 'cli/up.ts → honeypot')
    assert.ok(has('server/server.ts', 'dashboard'), 'server/server.ts → dashboard')
    assert.ok(has('dashboard/queries/outcomes.ts', 'db'), 'dashboard/queries/outcomes.ts → db')
  })

  it('every import under src/ follows the rules', () => {
    const violations = edges.flatMap((e) => {
      const why = ruleViolation(e.from, e.to)
      return why === undefined ? [] : [`src/${e.file}: import '${e.specifier}' — ${why}`]
    })
    assert.deepEqual(violations, [], `\n${violations.join('\n')}`)
  })

  it('every folder under src/ has a rule', () => {
    const areas = new Set(tsFiles(SRC).map((p) => areaOf(relative(SRC, p).split(sep).join('/'))))
    const unknown = [...areas].filter((a) => RULES[a] === undefined)
    assert.deepEqual(unknown, [], `folders without a rule: ${unknown.join(', ')}`)
  })
})

describe('architecture: the rules themselves', () => {
  const cases: [string, string, boolean][] = [
    ['lib', 'lib', true],
    ['lib', 'db', false],
    ['lib', 'gen', false],
    ['gen', 'lib', false],
    ['db', 'lib', true],
    ['db', 'server', false],
    ['db', 'gen', false],
    ['server', 'lib', true],
    ['server', 'db', true],
    ['server', 'gen', true],
    ['server', 'client', false],
    ['server', 'honeypot', false],
    ['honeypot', 'lib', true],
    ['honeypot', 'db', true],
    ['honeypot', 'gen', false],
    ['honeypot', 'server', false],
    ['honeypot', 'client', false],
    ['honeypot', 'client/tracer', false],
    ['honeypot', 'lab', false],
    ['honeypot', 'cli', false],
    ['client', 'lib', true],
    ['client', 'gen', true],
    ['client', 'client/tracer', true],
    ['client', 'db', false],
    ['client', 'server', false],
    ['client/tracer', 'lib', true],
    ['client/tracer', 'client', false],
    ['client/tracer', 'gen', false],
    ['client/tracer', 'db', false],
    ['dashboard', 'db', true],
    ['dashboard', 'lib', true],
    ['dashboard', 'server', false],
    ['dashboard', 'gen', false],
    ['dashboard', 'honeypot', false],
    ['dashboard', 'client', false],
    ['dashboard', 'cli', false],
    ['server', 'dashboard', true],
    ['cli', 'dashboard', true],
    ['db', 'dashboard', false],
    ['lib', 'dashboard', false],
    ['honeypot', 'dashboard', false],
    ['client', 'dashboard', false],
    ['cli', 'server', true],
    ['cli', 'client', true],
    ['cli', 'lab', true],
    ['cli', 'honeypot', true],
    ['lab', 'server', true],
    ['lab', 'client', true],
    ['lab', 'honeypot', true],
    ['lab', 'cli', false],
    ['quic', 'lib', true],
    ['quic', 'client', false],
    ['client', 'quic', true],
    ['server', 'cli', false],
    ['lib', 'cli', false],
    ['unknown', 'lib', false],
  ]
  for (const [from, to, allowed] of cases) {
    it(`${from} → ${to}: ${allowed ? 'allowed' : 'forbidden'}`, () => {
      assert.equal(ruleViolation(from, to) === undefined, allowed)
    })
  }

  const areaCases: [string, string][] = [
    ['lib/flags.ts', 'lib'],
    ['server/routes/register.ts', 'server'],
    ['client/tracer/index.ts', 'client/tracer'],
    ['client/round.ts', 'client'],
    ['client/tracer-utils.ts', 'client'],
    ['index.ts', '(src root)'],
  ]
  for (const [path, area] of areaCases) {
    it(`area of ${path} is ${area}`, () => assert.equal(areaOf(path), area))
  }
})

describe('architecture: the import scanner', () => {
  const cases: [string, string, string[]][] = [
    ['a default import', "import x from '../db/a.js'", ['../db/a.js']],
    ['a type import', "import type { A } from '../db/a.js'", ['../db/a.js']],
    ['an inline type import', "import { type A, b } from '../db/a.js'", ['../db/a.js']],
    ['a multi-line import', "import {\n  a,\n  b,\n} from '../gen/x.js'", ['../gen/x.js']],
    ['a namespace import', 'import * as x from "./y.js"', ['./y.js']],
    ['a side-effect import', "import './setup.js'", ['./setup.js']],
    ['a re-export', "export { a } from '../lib/a.js'", ['../lib/a.js']],
    [
      'an export-all',
      "export * from '../lib/a.js'\nexport * as b from '../lib/b.js'",
      ['../lib/a.js', '../lib/b.js'],
    ],
    ['a dynamic import', "const m = await import('../cli/main.js')", ['../cli/main.js']],
    ['an import after an export', "export { a }\nimport b from './b.js'", ['./b.js']],
    ['a line comment', "// import x from '../cli/main.js'\nconst a = 1", []],
    ['a block comment', "/**\n * import x from '../cli/main.js'\n */", []],
    [
      'a glob in a string is no comment',
      "const g = 'src/**/*.ts'\nimport a from './a.js'\nconst h = '*/'",
      ['./a.js'],
    ],
    ['a URL in a string is no comment', "const u = 'http://x'; import a from './a.js'", ['./a.js']],
    ['an export const with a string', "export const x = '../cli/main.js'", []],
    ['a string mentioning from', "const s = 'import x from y'", []],
    ['an import inside a string', `const s = "import x from '../cli/main.js'"`, []],
    ['an escaped quote in a string', "const s = 'it\\'s'\nimport a from './a.js'", ['./a.js']],
    ['a template literal', 'const t = `import x from "../cli/main.js"`', []],
  ]
  for (const [name, source, expected] of cases) {
    it(name, () => assert.deepEqual(importSpecifiers(source), expected))
  }
})

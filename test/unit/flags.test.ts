import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clientFlags } from '../../src/client/config.js'
import { ConfigError } from '../../src/lib/errors.js'
import {
  boolFlag,
  envName,
  intFlag,
  optionalStringFlag,
  parseFlags,
  portFlag,
  renderHelp,
  stringFlag,
} from '../../src/lib/flags.js'

const SECRET = 'postgres://punchr:hunter2@db.internal/punchr'
const API_SECRET = 'sk_live_do_not_print_me'

/** Flags shaped like `punchr server`'s, plus one of every kind. */
const specs = {
  port: portFlag('port', 'gRPC port', 10000, { group: 'Network' }),
  httpPort: portFlag('http-port', 'HTTP port', 10001, { group: 'Network' }),
  workers: intFlag('workers', 'Worker count', 4, 1, 64),
  dataDir: stringFlag('data-dir', 'PGlite folder', './punchr-data', { group: 'Database' }),
  databaseUrl: optionalStringFlag('database-url', 'PostgreSQL URL', {
    group: 'Database',
    aliasEnv: ['DATABASE_URL'],
    secret: true,
    parse: (raw, fail) => (raw.startsWith('postgres') ? raw : fail('expected a postgres:// URL')),
  }),
  apiKey: stringFlag('api-key', 'API key', API_SECRET, {
    secret: true,
    parse: (raw, fail) => (raw.startsWith('sk_') ? raw : fail('expected sk_…')),
  }),
  openRegistration: boolFlag('open-registration', 'Open registration', false, { group: 'Access' }),
  tls: boolFlag('tls', 'Use TLS', true),
}

const parse = (argv: string[], env: Record<string, string | undefined> = {}) =>
  parseFlags('server', specs, argv, env)

describe('envName', () => {
  const cases: [string, string, string][] = [
    ['server', 'port', 'PUNCHR_SERVER_PORT'],
    ['server', 'http-port', 'PUNCHR_SERVER_HTTP_PORT'],
    ['client', 'api-key', 'PUNCHR_CLIENT_API_KEY'],
    ['keys', 'database-url', 'PUNCHR_KEYS_DATABASE_URL'],
  ]
  for (const [command, flag, expected] of cases) {
    it(`${command} --${flag} → ${expected}`, () => assert.equal(envName(command, flag), expected))
  }
})

describe('parseFlags: values and precedence', () => {
  const cases: [string, string[], Record<string, string>, Partial<ReturnType<typeof parse>['values']>][] = [
    [
      'defaults',
      [],
      {},
      {
        port: 10000,
        httpPort: 10001,
        workers: 4,
        dataDir: './punchr-data',
        databaseUrl: undefined,
        openRegistration: false,
        tls: true,
      },
    ],
    ['--flag=value', ['--port=1234'], {}, { port: 1234 }],
    ['--flag value', ['--port', '1234'], {}, { port: 1234 }],
    ['a value containing =', ['--data-dir=/tmp/a=b'], {}, { dataDir: '/tmp/a=b' }],
    ['an empty --flag= value', ['--data-dir='], {}, { dataDir: '' }],
    ['the last occurrence wins', ['--port=1', '--port', '2'], {}, { port: 2 }],
    ['env PUNCHR_SERVER_PORT', [], { PUNCHR_SERVER_PORT: '2000' }, { port: 2000 }],
    ['env of a kebab-case flag', [], { PUNCHR_SERVER_HTTP_PORT: '2001' }, { httpPort: 2001 }],
    ['argv beats env', ['--port=3000'], { PUNCHR_SERVER_PORT: '2000' }, { port: 3000 }],
    ['an empty env value counts as unset', [], { PUNCHR_SERVER_PORT: '' }, { port: 10000 }],
    ['env of another command is ignored', [], { PUNCHR_CLIENT_PORT: '2000' }, { port: 10000 }],
    ['alias env DATABASE_URL', [], { DATABASE_URL: 'postgres://alias' }, { databaseUrl: 'postgres://alias' }],
    [
      'PUNCHR_ env beats the alias env',
      [],
      { DATABASE_URL: 'postgres://alias', PUNCHR_SERVER_DATABASE_URL: 'postgres://own' },
      { databaseUrl: 'postgres://own' },
    ],
    [
      'argv beats both envs',
      ['--database-url', 'postgres://argv'],
      { DATABASE_URL: 'postgres://alias', PUNCHR_SERVER_DATABASE_URL: 'postgres://own' },
      { databaseUrl: 'postgres://argv' },
    ],
    [
      'an empty PUNCHR_ env falls through to the alias',
      [],
      { DATABASE_URL: 'postgres://alias', PUNCHR_SERVER_DATABASE_URL: '' },
      { databaseUrl: 'postgres://alias' },
    ],
    // Booleans.
    ['boolean --x', ['--open-registration'], {}, { openRegistration: true }],
    ['boolean --no-x', ['--no-tls'], {}, { tls: false }],
    ['boolean --x=false', ['--tls=false'], {}, { tls: false }],
    ['boolean --x=1', ['--open-registration=1'], {}, { openRegistration: true }],
    ["boolean env 'true'", [], { PUNCHR_SERVER_OPEN_REGISTRATION: 'true' }, { openRegistration: true }],
    ["boolean env 'TRUE'", [], { PUNCHR_SERVER_OPEN_REGISTRATION: 'TRUE' }, { openRegistration: true }],
    ["boolean env '1'", [], { PUNCHR_SERVER_OPEN_REGISTRATION: '1' }, { openRegistration: true }],
    ["boolean env '0'", [], { PUNCHR_SERVER_TLS: '0' }, { tls: false }],
    ["boolean env 'off'", [], { PUNCHR_SERVER_TLS: 'off' }, { tls: false }],
    [
      '--no-x beats env true',
      ['--no-open-registration'],
      { PUNCHR_SERVER_OPEN_REGISTRATION: 'true' },
      {
        openRegistration: false,
      },
    ],
    ['--x beats env 0', ['--tls'], { PUNCHR_SERVER_TLS: '0' }, { tls: true }],
    // Ranges.
    ['port 0', ['--port=0'], {}, { port: 0 }],
    ['port 65535', ['--port=65535'], {}, { port: 65535 }],
    ['int at its bounds', ['--workers=64'], {}, { workers: 64 }],
  ]
  for (const [name, argv, env, expected] of cases) {
    it(name, () => {
      const { values } = parse(argv, env)
      for (const [key, value] of Object.entries(expected)) {
        assert.equal(values[key as keyof typeof values], value, key)
      }
    })
  }

  it('returns every key of the specs', () => {
    assert.deepEqual(Object.keys(parse([]).values).sort(), Object.keys(specs).sort())
  })

  it('does not read process.env', () => {
    const saved = process.env.PUNCHR_SERVER_PORT
    process.env.PUNCHR_SERVER_PORT = '4242'
    try {
      assert.equal(parse([]).values.port, 10000)
    } finally {
      if (saved === undefined) delete process.env.PUNCHR_SERVER_PORT
      else process.env.PUNCHR_SERVER_PORT = saved
    }
  })
})

describe('parseFlags: positionals and --help', () => {
  const cases: [string, string[], string[], boolean][] = [
    ['no arguments', [], [], false],
    ['--help', ['--help'], [], true],
    ['-h', ['-h'], [], true],
    ['--help among flags', ['--port=1', '--help', 'alice'], ['alice'], true],
    ['positionals around flags', ['add', '--port', '1', 'alice'], ['add', 'alice'], false],
    ['a word after a boolean flag is a positional', ['--tls', 'alice'], ['alice'], false],
    ['a flag value is not a positional', ['--data-dir', 'alice'], [], false],
  ]
  for (const [name, argv, positionals, help] of cases) {
    it(name, () => {
      const parsed = parse(argv)
      assert.deepEqual(parsed.positionals, positionals)
      assert.equal(parsed.help, help)
    })
  }

  it('--help still reports bad values (help does not short-circuit)', () => {
    assert.throws(() => parse(['--help', '--port=x']), ConfigError)
  })
})

describe('parseFlags: errors', () => {
  const cases: [string, string[], Record<string, string>, RegExp[]][] = [
    ['a non-number port (flag)', ['--port=abc'], {}, [/--port/, /"abc"/, /not a whole number/]],
    ['a port above 65535 (flag)', ['--port', '65536'], {}, [/--port/, /between 0 and 65535/]],
    ['a negative port (flag)', ['--port', '-1'], {}, [/--port/, /between 0 and 65535/]],
    ['a fractional port (flag)', ['--port=1.5'], {}, [/--port/, /not a whole number/]],
    ['an empty port (flag)', ['--port='], {}, [/--port/, /not a whole number/]],
    ['a non-number port (env)', [], { PUNCHR_SERVER_PORT: 'ten' }, [/PUNCHR_SERVER_PORT/, /"ten"/]],
    [
      'a port above 65535 (env)',
      [],
      { PUNCHR_SERVER_HTTP_PORT: '70000' },
      [/PUNCHR_SERVER_HTTP_PORT/, /between/],
    ],
    ['an int below its minimum', ['--workers=0'], {}, [/--workers/, /between 1 and 64/]],
    ['a bad boolean (flag)', ['--tls=maybe'], {}, [/--tls/, /true or false/]],
    ['a bad boolean (env)', [], { PUNCHR_SERVER_TLS: 'maybe' }, [/PUNCHR_SERVER_TLS/, /true or false/]],
    ['a bad alias env value', [], { DATABASE_URL: 'mysql://x' }, [/DATABASE_URL/, /postgres/]],
    ['an unknown flag', ['--bogus'], {}, [/unknown flag --bogus/, /punchr server/]],
    ['an unknown flag with a value', ['--bogus=1'], {}, [/unknown flag --bogus /]],
    ['--no- of a non-boolean flag', ['--no-port'], {}, [/unknown flag --no-port/]],
    ['a missing value', ['--port'], {}, [/--port needs a value/]],
  ]
  for (const [name, argv, env, patterns] of cases) {
    it(name, () => {
      assert.throws(
        () => parse(argv, env),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
          for (const p of patterns) assert.match(err.message, p)
          return true
        },
      )
    })
  }

  it('an env error does not name the flag as its source', () => {
    assert.throws(
      () => parse([], { PUNCHR_SERVER_PORT: 'ten' }),
      (err: Error) => !err.message.includes('--port'),
    )
  })
})

describe('parseFlags: secrets never appear in errors', () => {
  const cases: [string, string[], Record<string, string>, string, RegExp][] = [
    ['secret flag value', ['--database-url', 'mysql://u:hunter2@h'], {}, 'hunter2', /--database-url/],
    ['secret flag=value', ['--api-key=hunter2'], {}, 'hunter2', /--api-key/],
    ['secret PUNCHR_ env', [], { PUNCHR_SERVER_API_KEY: 'hunter2' }, 'hunter2', /PUNCHR_SERVER_API_KEY/],
    ['secret alias env', [], { DATABASE_URL: 'mysql://u:hunter2@h' }, 'hunter2', /DATABASE_URL/],
    ['a value given to an unknown flag', ['--apikey=hunter2'], {}, 'hunter2', /unknown flag --apikey/],
  ]
  for (const [name, argv, env, secret, source] of cases) {
    it(name, () => {
      assert.throws(
        () => parse(argv, env),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.ok(!err.message.includes(secret), err.message)
          assert.match(err.message, source)
          return true
        },
      )
    })
  }

  it('a valid secret is returned unchanged', () => {
    assert.equal(parse(['--database-url', SECRET]).values.databaseUrl, SECRET)
  })
})

describe('renderHelp', () => {
  const help = renderHelp('server', 'punchr server [flags]', specs)

  it('starts with the usage line', () => {
    assert.match(help, /^Usage: punchr server \[flags\]\n/)
  })

  const mentions: [string, RegExp][] = [
    ['every env name', /env: PUNCHR_SERVER_PORT\n/],
    ['kebab-case env names', /env: PUNCHR_SERVER_HTTP_PORT\n/],
    ['alias envs after the PUNCHR_ one', /env: PUNCHR_SERVER_DATABASE_URL, DATABASE_URL\n/],
    ['a value placeholder for valued flags', /--port <value>\n/],
    ['no placeholder for boolean flags', /--open-registration\n/],
    ['defaults', /gRPC port \(default: 10000\)/],
    ['boolean defaults', /Use TLS \(default: true\)/],
    ['group headings', /Network:\n {2}--port/],
    ['flags without a group under Options', /Options:\n {2}--workers/],
  ]
  for (const [name, pattern] of mentions) {
    it(`shows ${name}`, () => assert.match(help, pattern))
  }

  it('lists every flag and every env name', () => {
    for (const spec of Object.values(specs)) {
      assert.ok(help.includes(`--${spec.name}`), spec.name)
      assert.ok(help.includes(envName('server', spec.name)), spec.name)
    }
  })

  it('never shows a secret default', () => {
    assert.ok(!help.includes(API_SECRET), help)
    assert.match(help, /API key\n/)
  })

  it('shows no default for an unset optional flag', () => {
    assert.match(help, /PostgreSQL URL\n/)
  })
})

describe('punchr client --router-probe', () => {
  it('takes on, off or host[:port], refuses anything else by name, and shows its default as on', () => {
    const parse = (...argv: string[]) => parseFlags('client', clientFlags, argv, {}).values.routerProbe
    assert.equal(parse(), 'on')
    assert.equal(parse('--router-probe', 'off'), 'off')
    assert.deepEqual(parse('--router-probe', '192.168.1.1:8080'), { gateway: '192.168.1.1', port: 8080 })
    assert.deepEqual(parse('--router-probe', 'fritz.box'), { gateway: 'fritz.box', port: undefined })
    assert.throws(
      () => parse('--router-probe', 'http://x/'),
      (err: unknown) => err instanceof ConfigError && /--router-probe/.test(err.message),
    )
    assert.match(
      renderHelp('client', 'punchr client [flags]', clientFlags),
      /on, off, or host\[:port\].*\(default: on\)/,
    )
  })
})

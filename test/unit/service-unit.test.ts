import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { honeypotFlags } from '../../src/cli/honeypot.js'
import { upFlags } from '../../src/cli/up.js'
import { clientFlags } from '../../src/client/config.js'
import { ConfigError } from '../../src/lib/errors.js'
import { serverFlags } from '../../src/server/config.js'
import { DATABASE_URL_FLAGS } from '../../src/service/command-args.js'
import { normaliseUnitName, unitFolderName } from '../../src/service/commands.js'
import { execLine, quoteExecArg } from '../../src/service/exec-quote.js'
import { installService, type ServiceContext, uninstallService } from '../../src/service/install.js'
import { userUnitDir } from '../../src/service/layout.js'
import { planUnit, type UnitRequest } from '../../src/service/plan.js'
import type { Program } from '../../src/service/program.js'
import type { CommandResult } from '../../src/service/systemctl.js'
import { isPunchrUnit, UNIT_MARKER } from '../../src/service/unit-file.js'

/**
 * How systemd reads an ExecStart= value back into argv (systemd.service(5), "Command lines";
 * systemd.unit(5), "Specifiers"): specifiers first (only `%%` here: anything else would be
 * expanded, so a literal must never produce one), then words with double quotes and C escapes,
 * then `$$` → `$` (any other `$` would be an environment expansion).
 */
function systemdArgv(line: string): string[] {
  let specified = ''
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== '%') specified += line[i]
    else if (line[i + 1] === '%') specified += line[++i]
    else throw new Error(`specifier %${line[i + 1]} would be expanded in: ${line}`)
  }
  const words: string[] = []
  let i = 0
  while (i < specified.length) {
    while (specified[i] === ' ') i++
    if (i >= specified.length) break
    let word = ''
    let quoted = false
    while (i < specified.length && (quoted || specified[i] !== ' ')) {
      const c = specified[i]!
      if (c === '"') {
        quoted = !quoted
        i++
      } else if (c === '\\') {
        const next = specified[i + 1]!
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' }
        if (next === 'x') {
          word += String.fromCharCode(Number.parseInt(specified.slice(i + 2, i + 4), 16))
          i += 4
        } else if (simple[next] !== undefined) {
          word += simple[next]
          i += 2
        } else throw new Error(`unknown escape \\${next} in: ${line}`)
      } else {
        word += c
        i++
      }
    }
    if (quoted) throw new Error(`unbalanced quoting in: ${line}`)
    words.push(word)
  }
  return words.map((word) => {
    if (/\$(?!\$)/.test(word.replaceAll('$$', ''))) throw new Error(`$ would be expanded in: ${word}`)
    return word.replaceAll('$$', '$')
  })
}

const PROGRAM: Program = {
  node: '/opt/punchr/node_modules/node/bin/node',
  entry: '/opt/punchr/bin/punchr.js',
  docs: 'file:///opt/punchr/docs/SERVICES.md',
}
const ENV = { HOME: '/home/vol', XDG_CONFIG_HOME: '/home/vol/cfg', XDG_STATE_HOME: '/home/vol/st' }

function plan(request: Partial<UnitRequest> & Pick<UnitRequest, 'command'>, env = ENV, program = PROGRAM) {
  return planUnit({ scope: 'system', commandArgs: [], ...request }, env, program, '9.9.9')
}

/** The settings of a unit text: name → every value given (comments and sections left out). */
function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m !== null) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!])
  }
  return map
}

function one(text: string, name: string): string {
  const values = settings(text).get(name)
  assert.ok(values !== undefined && values.length === 1, `${name}= once, got ${JSON.stringify(values)}`)
  return values[0]!
}

/** Arguments dense in what systemd treats specially, and any text at all. */
const argument = fc.oneof(
  fc.string({
    unit: fc.constantFrom(
      'a',
      '0',
      '-',
      '=',
      ' ',
      '"',
      "'",
      '\\',
      '%',
      '$',
      '{',
      '}',
      ';',
      '\n',
      '\t',
      '\x07',
      'é',
    ),
  }),
  fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0')),
)

describe('service: ExecStart quoting', () => {
  it('leaves plain arguments alone', () => {
    assert.equal(
      execLine(['/usr/bin/node', '--port', '10000', '--server=a.example:1']),
      '/usr/bin/node --port 10000 --server=a.example:1',
    )
  })

  it('quotes spaces and quotes, and escapes %, $ and backslashes', () => {
    assert.equal(quoteExecArg('a b'), '"a b"')
    assert.equal(quoteExecArg('say "hi"'), '"say \\"hi\\""')
    assert.equal(quoteExecArg('100%'), '"100%%"')
    assert.equal(quoteExecArg('$HOME'), '"$$HOME"')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's ${NAME}, not a template
    assert.equal(quoteExecArg('${HOME}'), '"$${HOME}"')
    assert.equal(quoteExecArg('a\\b'), '"a\\\\b"')
    assert.equal(quoteExecArg("it's"), '"it\'s"')
    assert.equal(quoteExecArg(';'), '";"')
    assert.equal(quoteExecArg(''), '""')
    assert.equal(quoteExecArg('line\nbreak'), '"line\\nbreak"')
    assert.equal(quoteExecArg('bell\x07'), '"bell\\x07"')
  })

  it('systemd reads back exactly the arguments given, whatever they hold', () => {
    fc.assert(
      fc.property(fc.array(argument, { maxLength: 6 }), (args) => {
        assert.deepEqual(systemdArgv(execLine(['/usr/bin/node', ...args])), ['/usr/bin/node', ...args])
      }),
      { numRuns: 500 },
    )
  })

  it('the reference reader does catch a wrong quoting (so the round trip can fail)', () => {
    assert.throws(() => systemdArgv('/bin/x "a b'), /unbalanced/)
    assert.throws(() => systemdArgv('/bin/x 100%'), /specifier/)
    assert.throws(() => systemdArgv('/bin/x $HOME'), /expanded/)
    assert.deepEqual(systemdArgv('/bin/x a b'), ['/bin/x', 'a', 'b'])
  })

  it('refuses a NUL byte, which no unit file can carry', () => {
    assert.throws(() => quoteExecArg('a\0b'), RangeError)
  })

  it('flags with spaces, quotes, % and $ reach the command intact through a rendered unit', () => {
    const args = ['--announce', '/ip4/1.2.3.4/tcp/1 "x" 50% $PATH', '--bootstrap-peers', '']
    const { text } = plan({ command: 'honeypot', commandArgs: args })
    const argv = systemdArgv(one(text, 'ExecStart'))
    assert.deepEqual(argv.slice(0, 3), [PROGRAM.node, PROGRAM.entry, 'honeypot'])
    assert.deepEqual(argv.slice(3, 7), args)
  })
})

describe('service: what a unit runs', () => {
  it('system units keep their files in /var/lib/punchr/<name>, made by StateDirectory= for a DynamicUser', () => {
    const { text, path } = plan({ command: 'up' })
    assert.equal(path, '/etc/systemd/system/punchr-up.service')
    assert.equal(one(text, 'DynamicUser'), 'yes')
    assert.equal(one(text, 'StateDirectory'), 'punchr/punchr-up')
    assert.equal(one(text, 'WorkingDirectory'), '/var/lib/punchr/punchr-up')
    assert.deepEqual(systemdArgv(one(text, 'ExecStart')).slice(3), [
      '--data-dir',
      '/var/lib/punchr/punchr-up',
    ])
    assert.equal(one(text, 'WantedBy'), 'multi-user.target')
    assert.equal(settings(text).get('User'), undefined)
  })

  it('the honeypot also keeps its identity there (its default is relative to the working directory)', () => {
    const argv = systemdArgv(one(plan({ command: 'honeypot' }).text, 'ExecStart'))
    assert.deepEqual(argv.slice(3), [
      '--data-dir',
      '/var/lib/punchr/punchr-honeypot',
      '--key-file',
      '/var/lib/punchr/punchr-honeypot/honeypot.key',
    ])
  })

  it("a folder the user gave after '--' is kept and not given twice", () => {
    const argv = systemdArgv(
      one(plan({ command: 'server', commandArgs: ['--data-dir=/srv/pg'] }).text, 'ExecStart'),
    )
    assert.deepEqual(argv.slice(3), ['--data-dir=/srv/pg'])
  })

  it('a system client gets its API key through LoadCredential=, never on the command line', () => {
    const { text } = plan({ command: 'client', commandArgs: ['--server', 'punchr.example:10000'] })
    assert.equal(one(text, 'LoadCredential'), 'api-key:/etc/punchr/api.key')
    const exec = one(text, 'ExecStart')
    assert.match(
      exec,
      / --api-key-file %d\/api-key /,
      'the credentials folder is left for systemd to fill in',
    )
    assert.match(exec, / --key-file \/var\/lib\/punchr\/punchr-client\/client\.keys /)
    assert.match(exec, / --queue-dir \/var\/lib\/punchr\/punchr-client\/reports$/)
    const custom = plan({ command: 'client', apiKeyFile: '/etc/credstore/punchr' }).text
    assert.equal(one(custom, 'LoadCredential'), 'api-key:/etc/credstore/punchr')
  })

  it('a user client uses the files punchr login and an interactive client use (XDG folders)', () => {
    const { text, path } = plan({ command: 'client', scope: 'user' })
    assert.equal(path, '/home/vol/cfg/systemd/user/punchr-client.service')
    const argv = systemdArgv(one(text, 'ExecStart'))
    assert.deepEqual(argv.slice(3), [
      '--key-file',
      '/home/vol/cfg/punchr/client.keys',
      '--api-key-file',
      '/home/vol/cfg/punchr/api.key',
      '--queue-dir',
      '/home/vol/st/punchr/reports',
    ])
    assert.deepEqual(settings(text).get('ReadWritePaths'), ['-/home/vol/cfg/punchr', '-/home/vol/st/punchr'])
    assert.equal(settings(text).get('LoadCredential'), undefined)
  })

  it('user units: no DynamicUser or StateDirectory, home read-only instead of hidden, default.target', () => {
    const { text } = plan({ command: 'up', scope: 'user' })
    const s = settings(text)
    assert.equal(s.get('DynamicUser'), undefined)
    assert.equal(
      s.get('StateDirectory'),
      undefined,
      'its meaning for user units changed between systemd versions',
    )
    assert.equal(one(text, 'ProtectHome'), 'read-only')
    assert.equal(one(text, 'PrivateUsers'), 'yes')
    assert.equal(one(text, 'WantedBy'), 'default.target')
    assert.deepEqual(s.get('ReadWritePaths'), ['-/home/vol/st/punchr/punchr-up'])
    assert.deepEqual(systemdArgv(one(text, 'ExecStart')).slice(3), [
      '--data-dir',
      '/home/vol/st/punchr/punchr-up',
    ])
  })

  it('user unit folder: $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user', () => {
    assert.equal(userUnitDir({ HOME: '/h', XDG_CONFIG_HOME: '/x' }), '/x/systemd/user')
    assert.equal(userUnitDir({ HOME: '/h', XDG_CONFIG_HOME: '' }), '/h/.config/systemd/user')
    assert.throws(() => plan({ command: 'up', scope: 'user' }, { HOME: 'relative' } as never), ConfigError)
  })

  it('--unit-dir and --name choose the file; the state folder follows the name', () => {
    const { path, text } = plan({ command: 'client', unitName: 'punchr-client-2', unitDir: '/tmp/u' })
    assert.equal(path, '/tmp/u/punchr-client-2.service')
    assert.equal(one(text, 'StateDirectory'), 'punchr/punchr-client-2')
    assert.equal(normaliseUnitName('x.service'), 'x.service')
    assert.equal(unitFolderName('measure.service'), 'measure')
    assert.equal(unitFolderName('punchr-up.service'), 'punchr-up')
    for (const bad of ['../x', 'a/b', 'x@.service', 'a b', '', '.service'])
      assert.throws(() => normaliseUnitName(bad), ConfigError, bad)
  })

  it('distinct unit names get distinct state folders, so two units never share a database', () => {
    const names = ['up', 'punchr-up', 'punchr-up-2', 'up-2', 'punchr-punchr-up', 'client', 'punchr-client']
    for (const scope of ['system', 'user'] as const) {
      const folders = names.map((name) => {
        const { text } = plan({ command: 'up', scope, unitName: name })
        return systemdArgv(one(text, 'ExecStart')).slice(3)[1]!
      })
      assert.equal(new Set(folders).size, names.length, `${scope}: ${folders.join(', ')}`)
    }
    // The default name and `--name up` in particular.
    assert.equal(one(plan({ command: 'up', unitName: 'up' }).text, 'StateDirectory'), 'punchr/up')
    assert.equal(one(plan({ command: 'up' }).text, 'StateDirectory'), 'punchr/punchr-up')
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9:_.-]{1,20}$/),
        fc.stringMatching(/^[A-Za-z0-9:_.-]{1,20}$/),
        (a, b) => {
          fc.pre(!a.startsWith('.') && !b.startsWith('.'))
          const [x, y] = [normaliseUnitName(a), normaliseUnitName(b)]
          return x === y || unitFolderName(x) !== unitFolderName(y)
        },
      ),
    )
  })

  it('the sandbox of every unit: hardened, MemoryDenyWriteExecute= off, the address families the client needs', () => {
    for (const scope of ['system', 'user'] as const) {
      for (const command of ['client', 'server', 'honeypot', 'up'] as const) {
        const { text } = plan({ command, scope })
        const s = settings(text)
        for (const [name, value] of [
          ['NoNewPrivileges', 'yes'],
          ['ProtectSystem', 'strict'],
          ['PrivateTmp', 'yes'],
          ['ProtectKernelTunables', 'yes'],
          ['ProtectKernelModules', 'yes'],
          ['ProtectControlGroups', 'yes'],
          ['LockPersonality', 'yes'],
          ['RestrictRealtime', 'yes'],
          ['RestrictSUIDSGID', 'yes'],
          ['SystemCallArchitectures', 'native'],
          ['CapabilityBoundingSet', ''],
          ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX AF_NETLINK'],
          ['Restart', 'on-failure'],
          ['RestartPreventExitStatus', '2'],
          ['After', 'network-online.target'],
          ['Wants', 'network-online.target'],
        ])
          assert.equal(one(text, name!), value, `${scope} ${command}: ${name}`)
        assert.equal(s.get('MemoryDenyWriteExecute'), undefined, 'V8 needs W+X memory')
        assert.match(text, /^# MemoryDenyWriteExecute= stays off: V8/m)
        assert.ok(Number(one(text, 'RestartSec')) > 0)
        assert.ok(isPunchrUnit(text))
        if (scope === 'system') assert.equal(one(text, 'ProtectHome'), 'yes')
      }
    }
  })
})

describe('service: secrets stay off the command line', () => {
  it('refuses --api-key in any spelling and says how to give the key', () => {
    for (const args of [['--api-key', 'pk_x'], ['--api-key=pk_x']]) {
      assert.throws(
        () => plan({ command: 'client', commandArgs: args }),
        (err: Error) =>
          err instanceof ConfigError &&
          /every user can read/.test(err.message) &&
          /LoadCredential=/.test(err.message) &&
          !err.message.includes('pk_x'),
      )
      assert.throws(
        () => plan({ command: 'client', scope: 'user', commandArgs: args }),
        (err: Error) => err instanceof ConfigError && /punchr login <key>/.test(err.message),
      )
    }
  })

  it('refuses --save-api-key in any spelling, like --api-key', () => {
    for (const args of [['--save-api-key', 'pk_SECRET'], ['--save-api-key=pk_SECRET']]) {
      for (const scope of ['system', 'user'] as const) {
        assert.throws(
          () => plan({ command: 'client', scope, commandArgs: ['--server', 'x:1', ...args] }),
          (err: Error) =>
            err instanceof ConfigError &&
            /^--save-api-key would put the API key into the unit file/.test(err.message) &&
            (scope === 'system' ? /LoadCredential=/ : /punchr login <key>/).test(err.message) &&
            !err.message.includes('pk_SECRET'),
        )
      }
    }
  })

  it("refuses --api-key-file after '--' and points at the install flag", () => {
    assert.throws(
      () => plan({ command: 'client', commandArgs: ['--api-key-file', '/x'] }),
      /punchr service install client --api-key-file/,
    )
  })

  it('refuses a --database-url with a password, keeps one without', () => {
    for (const url of ['postgres://u:hunter2@db/punchr', 'postgres://u@db/punchr?password=hunter2']) {
      assert.throws(
        () => plan({ command: 'up', commandArgs: ['--database-url', url] }),
        (err: Error) =>
          err instanceof ConfigError &&
          /EnvironmentFile=/.test(err.message) &&
          !err.message.includes('hunter2'),
      )
    }
    const { text } = plan({
      command: 'server',
      commandArgs: ['--database-url', 'postgres:///punchr?host=/run/postgresql'],
    })
    assert.match(one(text, 'ExecStart'), /--database-url /)
    assert.equal(one(text, 'EnvironmentFile'), '-/etc/punchr/punchr-server.env')
  })

  it('refuses a --read-database-url with a password too, in either spelling', () => {
    for (const command of ['server', 'up'] as const) {
      for (const args of [
        ['--read-database-url', 'postgres://u:pw@db/x'],
        ['--read-database-url=postgres://u:pw@db/x'],
        ['--read-database-url', 'postgres://u@replica/x?password=pw'],
      ]) {
        assert.throws(
          () => plan({ command, commandArgs: args }),
          (err: Error) =>
            err instanceof ConfigError &&
            err.message.startsWith('--read-database-url with a password') &&
            err.message.includes(`PUNCHR_${command.toUpperCase()}_READ_DATABASE_URL=postgres://`) &&
            err.message.includes(`/etc/punchr/punchr-${command}.env`) &&
            !err.message.includes('pw@'),
          `${command} ${args.join(' ')}`,
        )
      }
    }
    const { text } = plan({ command: 'up', commandArgs: ['--read-database-url', 'postgres://u@replica/x'] })
    assert.match(one(text, 'ExecStart'), /--read-database-url postgres:\/\/u@replica\/x /)
  })

  it('every secret flag of the four commands is checked', () => {
    // The flag definitions mark secrets; a new one must be added to refuseSecrets.
    const definitions = { client: clientFlags, server: serverFlags, honeypot: honeypotFlags, up: upFlags }
    for (const [command, flags] of Object.entries(definitions) as [
      keyof typeof definitions,
      Record<string, { name: string; secret?: boolean }>,
    ][]) {
      for (const { name } of Object.values(flags).filter((f) => f.secret === true)) {
        // A path to the TLS key, not the key itself.
        if (name === 'tls-key') continue
        const value = name.endsWith('database-url') ? 'postgres://u:pw@db/x' : 'pk_x'
        assert.throws(
          () => plan({ command, commandArgs: [`--${name}`, value] }),
          ConfigError,
          `${command} --${name}`,
        )
        if (name.endsWith('database-url')) assert.ok((DATABASE_URL_FLAGS as readonly string[]).includes(name))
      }
    }
  })

  it('a system unit refuses a punchr installed in a home folder; a user unit takes it', () => {
    const inHome = { ...PROGRAM, entry: '/home/vol/punchr/bin/punchr.js' }
    assert.throws(() => plan({ command: 'up' }, ENV, inHome), /home folder.*--user/)
    assert.match(
      one(plan({ command: 'up', scope: 'user' }, ENV, inHome).text, 'ExecStart'),
      /\/home\/vol\/punchr/,
    )
  })
})

describe('service: install and uninstall (fake systemctl)', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-service-unit-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function context(state: string): { ctx: ServiceContext; calls: string[][]; out: string[] } {
    const calls: string[][] = []
    const out: string[] = []
    const ctx: ServiceContext = {
      env: { HOME: join(dir, 'home') },
      program: PROGRAM,
      version: '9.9.9',
      say: (line) => out.push(line),
      systemctl: (args): CommandResult => {
        calls.push([...args])
        if (args.at(-1) === 'is-system-running')
          return { code: state === 'running' ? 0 : 1, stdout: `${state}\n`, stderr: '' }
        return { code: 0, stdout: '', stderr: '' }
      },
    }
    return { ctx, calls, out }
  }

  const base = { scope: 'system' as const, commandArgs: [], dryRun: false, start: true, force: false }

  it('writes the unit (0644), reloads, enables and starts it when the manager runs', async () => {
    const unitDir = join(dir, 'a')
    const { ctx, calls } = context('running')
    await installService({ ...base, command: 'up', unitDir }, ctx)
    const path = join(unitDir, 'punchr-up.service')
    assert.ok(readFileSync(path, 'utf8').startsWith(UNIT_MARKER))
    assert.equal(statSync(path).mode & 0o777, 0o644)
    assert.deepEqual(calls, [
      ['is-system-running'],
      ['daemon-reload'],
      ['enable', '--now', 'punchr-up.service'],
    ])
  })

  it('without a running manager: writes the unit, runs nothing more, prints the commands', async () => {
    const unitDir = join(dir, 'b')
    const { ctx, calls, out } = context('offline')
    await installService({ ...base, command: 'server', unitDir, scope: 'user' }, ctx)
    assert.deepEqual(calls, [['--user', 'is-system-running']])
    const text = out.join('\n')
    assert.match(
      text,
      /user service manager is not available \(systemctl --user is-system-running: offline\)/,
    )
    assert.match(
      text,
      /systemctl --user daemon-reload\n {2}systemctl --user enable --now punchr-server\.service/,
    )
    assert.ok(statSync(join(unitDir, 'punchr-server.service')).isFile())
    assert.ok(
      statSync(join(dir, 'home/.local/state/punchr/punchr-server')).isDirectory(),
      'its ReadWritePaths= exists',
    )
  })

  it('a client without its key file is enabled but not started, with how to add the key', async () => {
    const unitDir = join(dir, 'c')
    const { ctx, calls, out } = context('running')
    const apiKeyFile = join(dir, 'no-such.key')
    await installService({ ...base, command: 'client', unitDir, apiKeyFile }, ctx)
    assert.deepEqual(calls.at(-1), ['enable', 'punchr-client.service'])
    assert.match(out.join('\n'), /no API key yet: Put it into .*no-such\.key, owned by root with mode 0600/)
    writeFileSync(apiKeyFile, 'pk_x\n', { mode: 0o600 })
    const again = context('running')
    await installService({ ...base, command: 'client', unitDir, apiKeyFile }, again.ctx)
    assert.deepEqual(again.calls.at(-1), ['restart', 'punchr-client.service'], 'the key is there: it starts')
  })

  it('--no-start and --dry-run run no systemctl; --dry-run writes nothing', async () => {
    const unitDir = join(dir, 'd')
    const noStart = context('running')
    await installService({ ...base, command: 'up', unitDir, start: false }, noStart.ctx)
    assert.deepEqual(noStart.calls, [])
    assert.match(noStart.out.join('\n'), /not started \(--no-start\)/)
    const dry = context('running')
    await installService({ ...base, command: 'honeypot', unitDir, dryRun: true }, dry.ctx)
    assert.deepEqual(dry.calls, [])
    assert.ok(dry.out[0]!.startsWith(UNIT_MARKER))
    assert.throws(() => statSync(join(unitDir, 'punchr-honeypot.service')), /ENOENT/)
  })

  it('refuses to overwrite or remove a unit punchr did not write, unless --force', async () => {
    const unitDir = join(dir, 'e')
    const { ctx } = context('offline')
    await installService({ ...base, command: 'up', unitDir, start: false }, ctx)
    const path = join(unitDir, 'punchr-up.service')
    writeFileSync(path, '[Service]\nExecStart=/bin/true\n')
    await assert.rejects(
      installService({ ...base, command: 'up', unitDir }, ctx),
      /not written by punchr.*--force/,
    )
    await assert.rejects(
      uninstallService({ scope: 'system', command: 'up', unitDir, force: false, stop: true }, ctx),
      ConfigError,
    )
    assert.equal(readFileSync(path, 'utf8'), '[Service]\nExecStart=/bin/true\n')
    await installService({ ...base, command: 'up', unitDir, start: false, force: true }, ctx)
    assert.ok(isPunchrUnit(readFileSync(path, 'utf8')))
  })

  it('uninstall stops and disables, removes the file, reloads; a missing unit is an error', async () => {
    const unitDir = join(dir, 'f')
    const { ctx, calls } = context('running')
    await installService({ ...base, command: 'server', unitDir, start: false }, ctx)
    await uninstallService({ scope: 'system', command: 'server', unitDir, force: false, stop: true }, ctx)
    assert.throws(() => statSync(join(unitDir, 'punchr-server.service')), /ENOENT/)
    assert.deepEqual(calls, [
      ['is-system-running'],
      ['disable', '--now', 'punchr-server.service'],
      ['daemon-reload'],
    ])
    await assert.rejects(
      uninstallService({ scope: 'system', command: 'server', unitDir, force: false, stop: true }, ctx),
      /no unit file/,
    )
  })
})

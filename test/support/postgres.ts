import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import pg from 'pg'

/**
 * Throw-away PostgreSQL clusters for tests: `initdb` into a fresh temp folder, `postgres` on a
 * free loopback port, everything removed again by `stop()`. `scripts/test.js` starts one per
 * test run (through postgres-cli.ts) and hands its URL to the tests in PUNCHR_TEST_POSTGRES_URL;
 * fault tests start their own to stop and restart it under a running server.
 */

/** Database created in every cluster; `url` points at it. */
export const TEST_DATABASE = 'punchr_test'

/** Shown whenever the server binaries are missing, so the fix is one copy-paste away. */
export const INSTALL_HINT =
  'install postgresql (apt-get install postgresql), or set PUNCHR_TEST_POSTGRES_URL to a PostgreSQL server of your own'

export class PostgresNotInstalledError extends Error {
  override readonly name = 'PostgresNotInstalledError'
}

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:<port>/punchr_test (trust auth, no password). */
  readonly url: string
  readonly port: number
  /** The temp folder holding data/, the socket folder and postgres.log. */
  readonly dir: string
  /** Stops the server and removes every file. Idempotent. */
  stop(): Promise<void>
  /** Stops and starts the server again on the same port and data (connections drop meanwhile). */
  restart(): Promise<void>
  /** Stops the server but keeps port and data, for "database is down" tests; undo with startServer(). */
  stopServer(): Promise<void>
  /** Starts the server again after stopServer(). */
  startServer(): Promise<void>
}

/**
 * The folder holding initdb and postgres: PUNCHR_TEST_POSTGRES_BIN if set, else the newest
 * Debian install (/usr/lib/postgresql/<major>/bin, which is not on PATH), else
 * `pg_config --bindir`, else PATH.
 */
export function findPostgresBin(): string {
  const override = process.env.PUNCHR_TEST_POSTGRES_BIN
  if (override !== undefined && override !== '') {
    if (!hasServerBinaries(override)) {
      throw new PostgresNotInstalledError(`PUNCHR_TEST_POSTGRES_BIN=${override} holds no initdb and postgres`)
    }
    return override
  }
  const debianRoot = '/usr/lib/postgresql'
  if (existsSync(debianRoot)) {
    const majors = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    for (const major of majors) {
      const dir = join(debianRoot, major, 'bin')
      if (hasServerBinaries(dir)) return dir
    }
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    if (hasServerBinaries(dir)) return dir
  } catch {
    // no pg_config (libpq-dev not installed): fall through to PATH
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && hasServerBinaries(dir)) return dir
  }
  throw new PostgresNotInstalledError(
    `PostgreSQL server binaries (initdb, postgres) not found: ${INSTALL_HINT}`,
  )
}

function hasServerBinaries(dir: string): boolean {
  return existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))
}

interface RunAs {
  uid: number
  gid: number
  name: string
}

/**
 * PostgreSQL refuses to run as root. As root we run it as `postgres` (created by the Debian
 * package) or else `nobody`. We switch user with spawn's uid/gid rather than `runuser`: runuser
 * keeps a watching parent that SIGKILLs its child two seconds after forwarding a signal, which
 * could cut a clean shutdown short and would hide the postmaster's pid from us.
 */
function runAsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(
        execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
      )
      const gid = Number(
        execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
      )
      if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid, name }
    } catch {
      // no such user, try the next one
    }
  }
  throw new Error('running as root, but neither user postgres nor nobody exists to run PostgreSQL as')
}

/** A port nobody listens on right now (the OS picks it); postgres binds it a moment later. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Clusters of this process still running, torn down on exit if a test forgot stop(). */
const live = new Set<{ child: ChildProcess | undefined; dir: string }>()

function emergencyCleanup(): void {
  for (const cluster of live) {
    // SIGQUIT = immediate shutdown: the postmaster takes its backends down at once.
    cluster.child?.kill('SIGQUIT')
    rmSync(cluster.dir, { recursive: true, force: true, maxRetries: 3 })
  }
  live.clear()
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else listening (postgres-cli.ts) owns the shutdown and will call stop() itself.
  if (process.listenerCount(signal) > 1) return
  emergencyCleanup()
  // Re-raise so the process still ends the way the signal meant it to.
  process.removeListener(signal, onSignal)
  process.kill(process.pid, signal)
}

let hooksInstalled = false
function installExitHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', emergencyCleanup)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

function removeExitHooks(): void {
  if (!hooksInstalled || live.size > 0) return
  hooksInstalled = false
  process.removeListener('exit', emergencyCleanup)
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Runs a binary as the cluster's user, failing with its output. */
function runTool(bin: string, args: string[], cwd: string, user: RunAs | undefined): void {
  try {
    execFileSync(bin, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
      // initdb picks the locale from the environment; C keeps it independent of the machine.
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${bin} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

const READY_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 30_000

export interface StartPostgresOptions {
  /**
   * Start a hot standby of this cluster instead (pg_basebackup, streaming replication): its
   * `url` reads what the primary committed once it has replayed it. The primary must have
   * been started with `replicable`.
   */
  standbyOf?: PostgresCluster
  /** Keep full_page_writes on, which a base backup of this cluster needs. @default false */
  replicable?: boolean
}

/**
 * Starts a fresh cluster with database `punchr_test` (or a standby of another, `standbyOf`).
 * Throws PostgresNotInstalledError without binaries.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const bin = findPostgresBin()
  const user = runAsUser()
  const dir = mkdtempSync(join(tmpdir(), 'punchr-pg-'))
  const dataDir = join(dir, 'data')
  const socketDir = join(dir, 'socket')
  const logFile = join(dir, 'postgres.log')
  mkdirSync(socketDir)
  if (user !== undefined) {
    chownSync(dir, user.uid, user.gid)
    chownSync(socketDir, user.uid, user.gid)
  }
  const entry: { child: ChildProcess | undefined; dir: string } = { child: undefined, dir }
  live.add(entry)
  installExitHooks()

  let port = 0
  const spawnServer = async (): Promise<void> => {
    // The log file is opened by us and handed over as stdout/stderr, so it works for any user.
    const logFd = openSync(logFile, 'a')
    const child = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-c',
        `port=${port}`,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${socketDir}`,
        // Durability buys nothing in a cluster thrown away after the run; these make it fast.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        `full_page_writes=${options.replicable === true ? 'on' : 'off'}`,
        '-c',
        'max_connections=200',
      ],
      {
        cwd: dir,
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
        ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
      },
    )
    closeSync(logFd)
    entry.child = child
    // Not keeping the test process alive: a forgotten stop() is caught by the exit hook instead
    // of hanging the test file until its timeout.
    child.unref()
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) =>
        reject(
          new Error(`postgres exited during startup (code ${code}, signal ${signal}):\n${logTail(logFile)}`),
        ),
      )
      child.once('error', reject)
    })
    exited.catch(() => undefined)
    await Promise.race([waitReady(port, logFile), exited])
  }

  const stopServer = async (): Promise<void> => {
    const child = entry.child
    entry.child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.ref()
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    // SIGINT = fast shutdown: roll back open transactions, disconnect clients, checkpoint.
    child.kill('SIGINT')
    const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  try {
    if (options.standbyOf === undefined) {
      runTool(
        join(bin, 'initdb'),
        ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
        dir,
        user,
      )
    } else {
      // -R writes standby.signal and primary_conninfo: the copy starts as a streaming standby.
      runTool(
        join(bin, 'pg_basebackup'),
        [
          '-D',
          dataDir,
          '-h',
          '127.0.0.1',
          '-p',
          String(options.standbyOf.port),
          '-U',
          'postgres',
          '-R',
          '-X',
          'stream',
          // An immediate checkpoint instead of a spread one: the copy starts at once.
          '--checkpoint=fast',
          '--no-sync',
        ],
        dir,
        user,
      )
    }
    // Another process may take the free port between our probe and postgres binding it; try
    // a few ports before giving up.
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      try {
        await spawnServer()
        break
      } catch (err) {
        await stopServer()
        const inUse = /could not bind|Address already in use/i.test(logTail(logFile))
        if (!inUse || attempt >= 3) throw err
      }
    }
    // A standby has the primary's databases already, and writes nothing.
    if (options.standbyOf === undefined) {
      const admin = new pg.Client({ connectionString: adminUrl(port) })
      await admin.connect()
      try {
        await admin.query(`CREATE DATABASE ${TEST_DATABASE}`)
      } finally {
        await admin.end()
      }
    }
  } catch (err) {
    await stopServer()
    rmSync(dir, { recursive: true, force: true })
    live.delete(entry)
    removeExitHooks()
    throw err
  }

  let stopped = false
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${TEST_DATABASE}`,
    port,
    dir,
    stop: async () => {
      if (stopped) return
      stopped = true
      await stopServer()
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
      live.delete(entry)
      removeExitHooks()
    },
    restart: async () => {
      if (stopped) throw new Error('cluster was stopped for good')
      await stopServer()
      await spawnServer()
    },
    stopServer: async () => {
      if (stopped) throw new Error('cluster was stopped for good')
      await stopServer()
    },
    startServer: async () => {
      if (stopped) throw new Error('cluster was stopped for good')
      if (entry.child !== undefined) return
      await spawnServer()
    },
  }
}

function adminUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`
}

/** Polls until the server accepts connections; startup takes ~0.3 s, recovery after a crash longer. */
async function waitReady(port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const client = new pg.Client({ connectionString: adminUrl(port), connectionTimeoutMillis: 1_000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      return
    } catch (err) {
      await client.end().catch(() => undefined)
      if (Date.now() > deadline) {
        throw new Error(
          `postgres on port ${port} not ready after ${READY_TIMEOUT_MS} ms: ${err}\n${logTail(logFile)}`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/**
 * Creates a fresh, uniquely named database on the server of `baseUrl` and returns its URL, so
 * every test file (and every suite) starts from an empty schema.
 */
export async function createTestDatabase(baseUrl: string): Promise<string> {
  const name = `punchr_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const client = new pg.Client({ connectionString: baseUrl })
  await client.connect()
  try {
    // The name is ours (digits and hex), so interpolating it is safe; DDL takes no parameters.
    await client.query(`CREATE DATABASE ${name}`)
  } finally {
    await client.end()
  }
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Drops a database made by createTestDatabase, so a long-lived server of one's own stays tidy. */
export async function dropTestDatabase(baseUrl: string, url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  if (!/^punchr_test_\d+_[0-9a-f]+$/.test(name)) throw new Error(`not a test database: ${name}`)
  const client = new pg.Client({ connectionString: baseUrl })
  await client.connect()
  try {
    // FORCE (PostgreSQL 13+) ends connections a test left open instead of failing.
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  } finally {
    await client.end()
  }
}

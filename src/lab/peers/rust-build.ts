// Builds the rust-libp2p interop remote of test/interop/rust-remote (a NATed rust-libp2p peer for
// the lab) and caches the binary outside the repository, so a test run builds it once and later
// runs only hash its sources:
//
//   $XDG_CACHE_HOME/punchr/interop/rust-remote-<hash>/rust-remote      (default ~/.cache)
//
// The hash covers Cargo.toml, Cargo.lock, the sources under src/ and `rustc --version`. Cargo
// builds with `--locked` (Cargo.lock pins every crate; nothing in the repository is rewritten)
// into CARGO_TARGET_DIR=$XDG_CACHE_HOME/punchr/interop/rust-target, one target folder shared by
// every version of the sources, so the first build compiles the ~235 crates once (~3–5 min) and
// an edited program rebuilds in seconds; the binary is then copied into its hash folder and
// renamed into place, so a half-done build is never used. Cargo's registry cache keeps its
// default (~/.cargo/registry), shared with every other Rust build on the machine. Binaries are
// never committed (issue 6).
import { createHash } from 'node:crypto'
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
} from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CommandError, runCommand } from '../command.js'
import type { LabNetwork } from '../topology.js'
import { interopCacheDir } from './go-build.js'
import { PeerProcess, type StartPeerOptions } from './launch.js'

/** The repository root (this file runs as dist/src/lab/peers/rust-build.js). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

const PROGRAM = 'rust-remote'

/** The first build compiles every crate (~3 min on a busy 2-core VM); later ones take seconds. */
const BUILD_TIMEOUT_MS = 30 * 60_000

let building: Promise<string> | undefined

/** The rust-libp2p remote (test/interop/rust-remote), built if needed; its path. */
export function rustRemoteBinary(): Promise<string> {
  if (building === undefined) {
    building = build()
    // A failed build is tried again by the next caller.
    building.catch(() => {
      building = undefined
    })
  }
  return building
}

/**
 * Starts the rust-libp2p remote in lab node `node`. Its command line is go-remote's (and
 * remote.js's where it applies: `--relay <ma>/p2p/… --dial-port P --listen-port P+1
 * --ready-timeout-ms … --dht-bootstrap …`; `--dial-port` is ignored, every dial leaves from the
 * listen port); it prints the same kind of ready line, with `"impl": "rust"` and the version of
 * the `libp2p` crate.
 */
export async function startRustRemote(
  lab: LabNetwork,
  node: string,
  args: readonly string[],
  options: Omit<StartPeerOptions, 'node'> = {},
): Promise<PeerProcess> {
  const binary = await rustRemoteBinary()
  // PeerProcess runs `options.node` with [script, ...args]: the binary stands in for Node and
  // the first argument for the script, which gives exactly `binary ...args`.
  const [first, ...rest] = args
  if (first === undefined) throw new Error('startRustRemote: --relay <multiaddr> is required')
  return new PeerProcess(lab, node, PROGRAM, first, rest, { ...options, node: binary })
}

async function build(): Promise<string> {
  const source = join(ROOT, 'test', 'interop', PROGRAM)
  if (!existsSync(join(source, 'Cargo.toml')))
    throw new Error(`${source}/Cargo.toml not found: is ${ROOT} the punchr repository?`)
  const cargo = findCargo()
  const env = cargoEnv(cargo)
  const rustc = findRustc(cargo)
  const rustcVersion = (await runCommand(rustc, ['--version'], { env })).stdout.trim()
  const hash = createHash('sha256').update(`${rustcVersion}\n`)
  for (const file of sourceFiles(source)) hash.update(`${file}\n`).update(readFileSync(join(source, file)))
  const dir = join(interopCacheDir(), `${PROGRAM}-${hash.digest('hex').slice(0, 16)}`)
  const binary = join(dir, PROGRAM)
  if (existsSync(binary)) return binary

  const targetDir = join(interopCacheDir(), 'rust-target')
  const started = performance.now()
  process.stderr.write(
    `building rust-libp2p remote with ${rustcVersion} into ${dir} (target folder ${targetDir}; ` +
      'first time on a machine: downloads and compiles ~235 crates, ~3–5 min) …\n',
  )
  try {
    // --locked: Cargo.lock is used as committed and never rewritten. Cargo locks the target
    // folder itself, so concurrent builds wait for each other.
    await runCommand(
      cargo,
      ['build', '--locked', '--manifest-path', join(source, 'Cargo.toml'), '--bin', PROGRAM],
      { env: { ...env, CARGO_TARGET_DIR: targetDir }, timeoutMs: BUILD_TIMEOUT_MS },
    )
  } catch (err) {
    if (err instanceof CommandError)
      throw new Error(`cargo build of ${source} failed:\n${err.stderr.slice(-8000)}`)
    throw err
  }
  mkdirSync(dir, { recursive: true })
  const partial = join(dir, `.${PROGRAM}-${process.pid}-${Date.now()}`)
  copyFileSync(join(targetDir, 'debug', PROGRAM), partial)
  renameSync(partial, binary)
  process.stderr.write(`built ${binary} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return binary
}

/** Cargo.toml, Cargo.lock and the Rust sources of the program (relative paths, sorted). */
function sourceFiles(dir: string): string[] {
  const src = readdirSync(join(dir, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.rs'))
    .map((f) => join('src', f))
  return ['Cargo.toml', 'Cargo.lock', ...src].sort()
}

/**
 * Cargo's environment: colourless output (it ends up in error messages), and the folder of
 * cargo on PATH, since cargo runs rustc (and rustup's proxies find their toolchain) through it.
 */
function cargoEnv(cargo: string): NodeJS.ProcessEnv {
  const path = [dirname(cargo), process.env.PATH ?? ''].filter((p) => p !== '').join(delimiter)
  return { ...process.env, PATH: path, CARGO_TERM_COLOR: 'never' }
}

/** `cargo` from PUNCHR_CARGO, PATH or ~/.cargo/bin (rustup's place); else a clear error. */
function findCargo(): string {
  const explicit = process.env.PUNCHR_CARGO
  if (explicit !== undefined && explicit !== '') return explicit
  const cargo = findExecutable('cargo', [join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin')])
  if (cargo === undefined)
    throw new Error(
      'Rust (cargo, rustc >= 1.88) is needed to build the rust-libp2p interop remote (test/interop/rust-remote) ' +
        'but `cargo` is neither on PATH nor in ~/.cargo/bin: install Rust (https://rustup.rs), or set PUNCHR_CARGO to the cargo binary',
    )
  return cargo
}

/** The rustc cargo will use: RUSTC, else the one next to cargo, else the first on PATH. */
function findRustc(cargo: string): string {
  if (process.env.RUSTC) return process.env.RUSTC
  const sibling = join(dirname(cargo), 'rustc')
  if (isExecutable(sibling)) return sibling
  return findExecutable('rustc') ?? 'rustc'
}

function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (dir === '') continue
    const candidate = join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

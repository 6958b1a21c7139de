// Builds the Go interop programs of test/interop/ and caches the binaries outside the
// repository, so a test run builds each once and later runs only hash their sources:
//
//   go-remote         a NATed go-libp2p peer for the lab (the remote B)
//   go-client         a grpc-go punchr API client (wire contract checks)
//   legacy-go-client  the original Go punchr client of the December 2022 campaign, on that era's
//                     stack (go-libp2p v0.23 as its author's fork, go-multiaddr v0.7.0, grpc-go
//                     v1.50.1), built with Go 1.19
//   go-bootstrap      a public go-libp2p DHT server for the lab's internet (the legacy client
//                     learns its public address only from go-libp2p peers)
//   net-delay         holds the packets a lab router forwards for a while: the lab's latency
//
//   $XDG_CACHE_HOME/punchr/interop/<program>-<hash>/<program>      (default ~/.cache)
//
// The hash covers the program's Go sources, go.mod and go.sum, the `go version`, and for the
// clients the proto file and the protoc plugin versions. Binaries are never committed (issue 6).
// The module cache (GOMODCACHE) and build cache (GOCACHE) keep their defaults, so the first
// build downloads modules once (~2 min) and an edited program rebuilds in seconds.
//
// Every program is built with the machine's Go (>= 1.26, findGo) except legacy-go-client: the
// quic-go of go-libp2p v0.23 refuses newer Go, so it takes Debian's Go 1.19 (package
// golang-1.19-go, /usr/lib/go-1.19/bin/go, or PUNCHR_GO119). PROGRAMS below holds all the
// per-program differences.
//
// The clients' protobuf and gRPC code is generated at build time, into the build's copy of the
// sources, from proto/punchr.proto with Debian's protoc and protoc-gen-go / protoc-gen-go-grpc
// installed with `go install` (by the program's Go) into the cache: nothing generated is
// committed, so there is no second copy of the wire contract that could go stale.
import { createHash } from 'node:crypto'
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CommandError, runCommand } from '../command.js'
import type { LabNetwork } from '../topology.js'
import { PeerProcess, type StartPeerOptions } from './launch.js'

export type GoProgram = 'go-remote' | 'go-client' | 'legacy-go-client' | 'go-bootstrap' | 'net-delay'

/** The repository root (this file runs as dist/src/lab/peers/go-build.js). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

interface ProgramSpec {
  description: string
  /**
   * The Go module (a folder of test/interop/) and the package in it that is the program.
   * @default the program's own folder, its root package
   */
  module?: string
  pkg?: string
  /** The Go that builds it: the machine's (>= 1.26) or Debian's Go 1.19. */
  go: 'current' | 'go1.19'
  /**
   * Generate the gRPC code (package pb) with these protoc plugins (`go install` arguments, versions
   * the Go module proxy serves). The proto has no package and a go_package of the original punchr
   * repository; M options map it into `pbPackage` instead (proto/punchr.proto stays untouched:
   * golden tests pin it).
   */
  grpc?: { plugins: readonly string[]; pbPackage: string }
}

const PROGRAMS: Record<GoProgram, ProgramSpec> = {
  'go-remote': { description: 'go-libp2p remote', go: 'current' },
  'go-client': {
    description: 'grpc-go punchr client',
    go: 'current',
    grpc: {
      plugins: [
        'google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12',
        'google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2',
      ],
      pbPackage: 'punchr/interop/go-client/pb',
    },
  },
  'legacy-go-client': {
    description: 'original Go punchr client (go-libp2p v0.23 fork)',
    go: 'go1.19',
    // The plugins of its era: protobuf-go v1.28.1 is the runtime its go.mod pins, and
    // protoc-gen-go-grpc v1.2.0 generates code that grpc-go v1.50.1 runs.
    grpc: {
      plugins: [
        'google.golang.org/protobuf/cmd/protoc-gen-go@v1.28.1',
        'google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.2.0',
      ],
      pbPackage: 'punchr/interop/legacy-go-client/pb',
    },
  },
  // A second command of go-remote's module: the lab plumbing (labpeer) is shared.
  'go-bootstrap': {
    description: 'go-libp2p DHT bootstrap peer',
    go: 'current',
    module: 'go-remote',
    pkg: './cmd/go-bootstrap',
  },
  'net-delay': { description: 'lab router delay (netfilter queue)', go: 'current' },
}

/** A build takes minutes only the first time on a machine (module downloads, cold build cache). */
const BUILD_TIMEOUT_MS = 15 * 60_000

const building = new Map<GoProgram, Promise<string>>()

/** The go-libp2p remote (test/interop/go-remote), built if needed; its path. */
export function goRemoteBinary(): Promise<string> {
  return goBinary('go-remote')
}

/** The grpc-go punchr client (test/interop/go-client), built if needed; its path. */
export function goClientBinary(): Promise<string> {
  return goBinary('go-client')
}

/** The legacy Go punchr client (test/interop/legacy-go-client, Go 1.19), built if needed; its path. */
export function legacyGoClientBinary(): Promise<string> {
  return goBinary('legacy-go-client')
}

/** The go-libp2p DHT bootstrap peer (test/interop/go-remote/cmd/go-bootstrap), built if needed; its path. */
export function goBootstrapBinary(): Promise<string> {
  return goBinary('go-bootstrap')
}

/** The lab routers' packet delay (test/interop/net-delay), built if needed; its path. */
export function netDelayBinary(): Promise<string> {
  return goBinary('net-delay')
}

/** Builds `program` unless a binary of the same sources is cached; resolves to its path. */
export function goBinary(program: GoProgram): Promise<string> {
  let pending = building.get(program)
  if (pending === undefined) {
    pending = build(program)
    building.set(program, pending)
    // A failed build is tried again by the next caller.
    pending.catch(() => building.delete(program))
  }
  return pending
}

/**
 * Starts the go-libp2p remote in lab node `node`. Its command line is remote.js's
 * (`--relay <ma>/p2p/… --dial-port P --listen-port P+1 --ready-timeout-ms … --dht-bootstrap …`);
 * it prints the same kind of ready line, plus `"impl": "go"` and the go-libp2p version.
 */
export async function startGoRemote(
  lab: LabNetwork,
  node: string,
  args: readonly string[],
  options: Omit<StartPeerOptions, 'node'> = {},
): Promise<PeerProcess> {
  const binary = await goRemoteBinary()
  // PeerProcess runs `options.node` with [script, ...args]: the binary stands in for Node and
  // the first argument for the script, which gives exactly `binary ...args`.
  const [first, ...rest] = args
  if (first === undefined) throw new Error('startGoRemote: --relay <multiaddr> is required')
  return new PeerProcess(lab, node, 'go-remote', first, rest, { ...options, node: binary })
}

/**
 * Starts the go-libp2p bootstrap peer in lab node `node`: `--ip <public IPv4> [--port 4001]
 * [--key <file>]`. It prints one ready line
 * (`{"ready":true,"peerId":…,"addrs":["/ip4/…/tcp/4001"],"impl":"go","version":…,"agentVersion":…}`).
 */
export async function startGoBootstrap(
  lab: LabNetwork,
  node: string,
  args: readonly string[],
  options: Omit<StartPeerOptions, 'node'> = {},
): Promise<PeerProcess> {
  const binary = await goBootstrapBinary()
  // As in startGoRemote: the binary stands in for Node, the first argument for the script.
  const [first, ...rest] = args
  if (first === undefined) throw new Error('startGoBootstrap: --ip <public IPv4> is required')
  return new PeerProcess(lab, node, 'go-bootstrap', first, rest, { ...options, node: binary })
}

/** The cache folder of the interop builds. */
export function interopCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'punchr', 'interop')
}

async function build(program: GoProgram): Promise<string> {
  const spec = PROGRAMS[program]
  const source = join(ROOT, 'test', 'interop', spec.module ?? program)
  if (!existsSync(join(source, 'go.mod')))
    throw new Error(`${source}/go.mod not found: is ${ROOT} the punchr repository?`)
  const go = spec.go === 'go1.19' ? findGo119() : findGo()
  const env = goEnv()
  const goVersion = (await runCommand(go, ['version'], { env })).stdout.trim()
  const proto = join(ROOT, 'proto', 'punchr.proto')
  const hash = createHash('sha256').update(`${goVersion}\n`)
  for (const file of sourceFiles(source)) hash.update(`${file}\n`).update(readFileSync(join(source, file)))
  if (spec.grpc !== undefined) hash.update(spec.grpc.plugins.join('\n')).update(readFileSync(proto))
  const dir = join(interopCacheDir(), `${program}-${hash.digest('hex').slice(0, 16)}`)
  const binary = join(dir, program)
  if (existsSync(binary)) return binary

  const started = performance.now()
  process.stderr.write(
    `building ${spec.description} with ${goVersion} into ${dir} (first time on a machine: downloads modules, ~2 min) …\n`,
  )
  // Built in a scratch copy: `-mod=mod` may touch go.mod/go.sum, and the clients' generated code
  // goes next to their sources. The binary is renamed into place, so a half-done build is never used.
  const work = join(interopCacheDir(), `.build-${program}-${process.pid}-${Date.now()}`)
  try {
    mkdirSync(work, { recursive: true })
    for (const file of sourceFiles(source)) {
      mkdirSync(dirname(join(work, file)), { recursive: true })
      cpSync(join(source, file), join(work, file))
    }
    if (spec.grpc !== undefined) await generateGrpcCode(go, goVersion, env, spec.grpc, proto, work)
    await runGo(go, ['build', '-trimpath', '-o', join(work, program), spec.pkg ?? '.'], env, work)
    mkdirSync(dir, { recursive: true })
    renameSync(join(work, program), binary)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  process.stderr.write(`built ${binary} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return binary
}

/**
 * protoc with protoc-gen-go and protoc-gen-go-grpc → <work>/pb/. The plugins are installed by the
 * program's Go into a tools folder of the cache named after their versions and that Go.
 */
async function generateGrpcCode(
  go: string,
  goVersion: string,
  env: NodeJS.ProcessEnv,
  grpc: NonNullable<ProgramSpec['grpc']>,
  proto: string,
  work: string,
) {
  const protoc = findExecutable('protoc')
  if (protoc === undefined)
    throw new Error('protoc not found: install it (Debian: apt-get install protobuf-compiler; .ci/run does)')
  const toolsHash = createHash('sha256')
    .update(`${goVersion}\n${grpc.plugins.join('\n')}`)
    .digest('hex')
    .slice(0, 12)
  const bin = join(interopCacheDir(), `tools-${toolsHash}`)
  for (const plugin of grpc.plugins) {
    const name = plugin.split('@')[0]!.split('/').at(-1)!
    if (!existsSync(join(bin, name))) await runGo(go, ['install', plugin], { ...env, GOBIN: bin }, work)
  }
  mkdirSync(join(work, 'pb'))
  await runCommand(
    protoc,
    [
      `--plugin=protoc-gen-go=${join(bin, 'protoc-gen-go')}`,
      `--plugin=protoc-gen-go-grpc=${join(bin, 'protoc-gen-go-grpc')}`,
      `--proto_path=${join(ROOT, 'proto')}`,
      `--go_out=${join(work, 'pb')}`,
      '--go_opt=paths=source_relative',
      `--go_opt=Mpunchr.proto=${grpc.pbPackage}`,
      `--go-grpc_out=${join(work, 'pb')}`,
      '--go-grpc_opt=paths=source_relative',
      `--go-grpc_opt=Mpunchr.proto=${grpc.pbPackage}`,
      proto,
    ],
    { env, timeoutMs: 60_000 },
  )
}

async function runGo(go: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  try {
    // runCommand has no cwd option and Go 1.19 has no `go -C dir`: a shell changes into the
    // module first (`sh -c 'cd "$0" && exec "$@"' <dir> go …`).
    await runCommand('sh', ['-c', 'cd "$0" && exec "$@"', cwd, go, ...args], {
      env,
      timeoutMs: BUILD_TIMEOUT_MS,
    })
  } catch (err) {
    if (err instanceof CommandError)
      throw new Error(`go ${args.join(' ')} failed in ${cwd}:\n${err.stderr.slice(-8000)}`)
    throw err
  }
}

/**
 * The go command's environment: the module and build caches stay at their defaults (shared
 * with every other Go build on the machine); -mod=mod lets a go.sum that lacks a line be
 * completed in the scratch copy; GOTOOLCHAIN=local never downloads another Go behind our back.
 */
function goEnv(): NodeJS.ProcessEnv {
  const flags = [process.env.GOFLAGS, '-mod=mod'].filter((f) => f !== undefined && f !== '').join(' ')
  return { ...process.env, GOFLAGS: flags, GOTOOLCHAIN: process.env.GOTOOLCHAIN || 'local' }
}

/** Go sources, go.mod and go.sum of a program folder (relative paths, sorted); not generated pb/. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') && !f.startsWith('pb/'))
    .sort()
}

/** `go` from PUNCHR_GO, PATH or /usr/local/go/bin (the official tarball's place); else a clear error. */
function findGo(): string {
  const explicit = process.env.PUNCHR_GO
  if (explicit !== undefined && explicit !== '') return explicit
  const go = findExecutable('go', ['/usr/local/go/bin'])
  if (go === undefined)
    throw new Error(
      'Go (>= 1.26) is needed to build the go-libp2p interop peers (test/interop/) but `go` is neither on PATH ' +
        'nor in /usr/local/go/bin: install Go (https://go.dev/doc/install), or set PUNCHR_GO to the go binary',
    )
  return go
}

/**
 * Debian's Go 1.19 for legacy-go-client: PUNCHR_GO119, else /usr/lib/go-1.19/bin/go (package
 * golang-1.19-go); else a clear error.
 */
function findGo119(): string {
  const explicit = process.env.PUNCHR_GO119
  if (explicit !== undefined && explicit !== '') return explicit
  const go = '/usr/lib/go-1.19/bin/go'
  try {
    accessSync(go, constants.X_OK)
    return go
  } catch {
    throw new Error(
      `Go 1.19 is needed to build the legacy Go punchr client (test/interop/legacy-go-client: go-libp2p v0.23's ` +
        `quic-go refuses newer Go) but ${go} is missing: install Debian's package golang-1.19-go ` +
        '(apt-get install golang-1.19-go), or set PUNCHR_GO119 to a Go 1.19 go binary',
    )
  }
}

function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

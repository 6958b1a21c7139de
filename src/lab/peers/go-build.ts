// Builds the Go interop programs of test/interop/ (go-remote: a NATed go-libp2p peer for the lab;
// go-client: a grpc-go punchr API client) and caches the binaries outside the repository, so a
// test run builds each once and later runs only hash their sources:
//
//   $XDG_CACHE_HOME/punchr/interop/<program>-<hash>/<program>      (default ~/.cache)
//
// The hash covers the program's Go sources, go.mod and go.sum, the `go version`, and for the
// client the proto file and the protoc plugin versions. Binaries are never committed (issue 6).
// The module cache (GOMODCACHE) and build cache (GOCACHE) keep their defaults, so the first
// build downloads modules once (~2 min) and an edited program rebuilds in seconds.
//
// go-client's protobuf and gRPC code is generated at build time, into the build's copy of the
// sources, from proto/punchr.proto with Debian's protoc and protoc-gen-go / protoc-gen-go-grpc
// installed with `go install` into the cache: nothing generated is committed, so there is no
// second copy of the wire contract that could go stale.
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
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CommandError, runCommand } from '../command.js'
import type { LabNetwork } from '../topology.js'
import { PeerProcess, type StartPeerOptions } from './launch.js'

export type GoProgram = 'go-remote' | 'go-client'

/** The repository root (this file runs as dist/src/lab/peers/go-build.js). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/** protoc plugins for go-client, installed with `go install` (versions the Go module proxy serves). */
const PROTOC_PLUGINS = [
  'google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12',
  'google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2',
]

/**
 * The proto has no package and a go_package of the original punchr repository; M options map
 * it into go-client's module instead (proto/punchr.proto stays untouched: golden tests pin it).
 */
const GO_PB_PACKAGE = 'punchr/interop/go-client/pb'

const DESCRIPTIONS: Record<GoProgram, string> = {
  'go-remote': 'go-libp2p remote',
  'go-client': 'grpc-go punchr client',
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

/** The cache folder of the interop builds. */
export function interopCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'punchr', 'interop')
}

async function build(program: GoProgram): Promise<string> {
  const source = join(ROOT, 'test', 'interop', program)
  if (!existsSync(join(source, 'go.mod')))
    throw new Error(`${source}/go.mod not found: is ${ROOT} the punchr repository?`)
  const go = findGo()
  const env = goEnv()
  const goVersion = (await runCommand(go, ['version'], { env })).stdout.trim()
  const proto = join(ROOT, 'proto', 'punchr.proto')
  const hash = createHash('sha256').update(`${goVersion}\n`)
  for (const file of sourceFiles(source)) hash.update(`${file}\n`).update(readFileSync(join(source, file)))
  if (program === 'go-client') hash.update(PROTOC_PLUGINS.join('\n')).update(readFileSync(proto))
  const dir = join(interopCacheDir(), `${program}-${hash.digest('hex').slice(0, 16)}`)
  const binary = join(dir, program)
  if (existsSync(binary)) return binary

  const started = performance.now()
  process.stderr.write(
    `building ${DESCRIPTIONS[program]} with ${goVersion} into ${dir} (first time on a machine: downloads modules, ~2 min) …\n`,
  )
  // Built in a scratch copy: `-mod=mod` may touch go.mod/go.sum, and the client's generated code
  // goes next to its sources. The binary is renamed into place, so a half-done build is never used.
  const work = join(interopCacheDir(), `.build-${program}-${process.pid}-${Date.now()}`)
  try {
    mkdirSync(work, { recursive: true })
    for (const file of sourceFiles(source)) cpSync(join(source, file), join(work, file))
    if (program === 'go-client') await generateGrpcCode(go, env, proto, work)
    await runGo(go, ['build', '-trimpath', '-o', join(work, program), '.'], env, work)
    mkdirSync(dir, { recursive: true })
    renameSync(join(work, program), binary)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  process.stderr.write(`built ${binary} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return binary
}

/** protoc with protoc-gen-go and protoc-gen-go-grpc (installed into the cache) → <work>/pb/. */
async function generateGrpcCode(go: string, env: NodeJS.ProcessEnv, proto: string, work: string) {
  const protoc = findExecutable('protoc')
  if (protoc === undefined)
    throw new Error('protoc not found: install it (Debian: apt-get install protobuf-compiler; .ci/run does)')
  const toolsHash = createHash('sha256').update(PROTOC_PLUGINS.join('\n')).digest('hex').slice(0, 12)
  const bin = join(interopCacheDir(), `tools-${toolsHash}`)
  for (const plugin of PROTOC_PLUGINS) {
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
      `--go_opt=Mpunchr.proto=${GO_PB_PACKAGE}`,
      `--go-grpc_out=${join(work, 'pb')}`,
      '--go-grpc_opt=paths=source_relative',
      `--go-grpc_opt=Mpunchr.proto=${GO_PB_PACKAGE}`,
      proto,
    ],
    { env, timeoutMs: 60_000 },
  )
}

async function runGo(go: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  try {
    // runCommand has no cwd option: `go -C dir` changes into the module first.
    await runCommand(go, ['-C', cwd, ...args], { env, timeoutMs: BUILD_TIMEOUT_MS })
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

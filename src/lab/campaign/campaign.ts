import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Path } from '../../client/host.js'
import { openDatabase } from '../../db/database.js'
import { ConfigError } from '../../lib/errors.js'
import { type Logger, logger } from '../../lib/logger.js'
import { runCommand } from '../command.js'
import { type Miniupnpd, startMiniupnpd } from '../miniupnpd.js'
import { slowLinkRules } from '../nat-profiles.js'
import {
  goBootstrapBinary,
  goRemoteBinary,
  legacyGoClientBinary,
  startGoBootstrap,
  startGoRemote,
} from '../peers/go-build.js'
import { PeerProcess, type PeerProgram, startPeer } from '../peers/launch.js'
import { rustRemoteBinary, startRustRemote } from '../peers/rust-build.js'
import type { HostNode, RouterNode } from '../plan.js'
import { signalTree } from '../process-tree.js'
import type { Scenario } from '../scenario.js'
import { type LabNetwork, upLabNetwork } from '../topology.js'
import { ResourceSampler, type ResourceUsage } from './resources.js'
import { createRunFolder, type RunFolder } from './run-folder.js'
import { readStoredRounds } from './stored-rounds.js'
import { formatVerdictTable } from './table.js'
import { judge, type Verdict } from './verdict.js'

/**
 * `punchr lab run`: a whole measurement campaign inside the lab, with the real programs —
 *
 *   1. the network (upLabNetwork), then API keys for every client host (`punchr keys add`,
 *      user name = host name, so each stored round names its client),
 *   2. relays and DHT bootstrap peers, then `punchr up` (server + honeypot, one process, the
 *      embedded database in the run folder) in node `server`,
 *   3. the remotes (js-libp2p, go-libp2p or rust-libp2p): each holds a reservation on a relay
 *      and joins the DHT, which brings it to the honeypot, which records it as a candidate,
 *   4. `punchr client` in every client host (or, for `impl: go`, the original Go punchr client's
 *      stack: test/interop/legacy-go-client), for the rounds (or the duration) asked for,
 *   5. the server stopped, the stored rounds read back from its database and judged against
 *      the ground truth; results.jsonl, table.txt, summary.json and every log in the run folder.
 *
 * The network always comes down at the end, whatever happened.
 */

/** The punchr CLI, compiled: dist/src/cli/main.js (this file is dist/src/lab/campaign/). */
const PUNCHR_CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url))

const PORTS = {
  relay: 4001,
  /** The observer beside each relay (startRelays). */
  relayObserver: 4002,
  bootstrap: 4001,
  serverGrpc: 10000,
  serverHttp: 10001,
  honeypot: 11000,
  honeypotHttp: 11001,
  /** Remotes dial from this port and listen on the next (see remote.ts). */
  remoteDial: 4100,
  /** Remotes with QUIC (js, go, rust) listen (and so dial) on this UDP port. */
  remoteQuic: 4102,
} as const

/** miniupnpd on a home's router, and the mappings it was seen holding. */
interface UpnpGateway {
  home: string
  router: RouterNode
  daemon: Miniupnpd
  seen: Set<string>
}

/** A peer's addresses (with /p2p/) on the lab's paths: TCP and QUIC v1 alike, IPv6 when the lab has it. */
interface PathAddrs {
  tcp: string
  quic: string
  tcp6?: string
  quic6?: string
}

/** A relay's addresses (relay.ts), and those of the observer peer at its IP. */
interface RelayAddrs extends PathAddrs {
  observer: PathAddrs
}

/** How long a process gets to say it is ready. */
const READY_TIMEOUT_MS = 30_000
/** `punchr up` creates a PGlite database (initdb in WASM) first: slow on a busy machine. */
const SERVER_READY_TIMEOUT_MS = 90_000
/** Budget per client round before the campaign gives up waiting (a FAILED round takes ~21 s). */
const ROUND_BUDGET_MS = 60_000
/**
 * The same for the original Go client: it waits 15 s for each of up to 3 dcutr streams and
 * 15 s for each attempt's events, and pings for 10 s after a success.
 */
const LEGACY_ROUND_BUDGET_MS = 120_000
/**
 * go-libp2p 0.23 advertises an observed address only once this many peers at different IPs
 * saw the same one (identify's ActivationThresh): the original Go client waits for that.
 */
const LEGACY_CLIENT_OBSERVERS = 4
/** A client stopped at the end of a timed campaign reports its running round; it gets this long. */
const CLIENT_STOP_MS = 30_000
/** A client waits this long after "no remote right now" (the server's default advice is 30 s). */
const NO_REMOTE_WAIT_S = 2

export interface CampaignOptions {
  /** The run folder is created in here. @default './lab-runs' */
  outDir?: string
  /** Rounds per client; overrides the scenario's rounds/durationSeconds. */
  rounds?: number
  /** Run this long, then stop the clients; overrides the scenario. */
  durationSeconds?: number
  /**
   * Seconds before the server hands a client a (remote, relay addr) pair it tried again. @default 0:
   * a lab has a handful of remotes, so clients measure the same ones again and again. The server's pair exclusion (docs/PROTOCOL.md, "Allocation")
   * 600 makes every client measure every remote once per `rounds = remotes`.
   */
  retryPairAfterSeconds?: number
  /** The server's `--filter-shares` (e.g. more ip6 filters for an IPv6 study); default the server's. */
  filterShares?: string
  /** Fault injection: SIGKILL the server once the clients finished this many rounds in all… */
  killServerAfterRounds?: number
  /** …and start it again this much later. @default 3000 */
  serverDownMs?: number
  /**
   * Our clients' --no-remote-wait, seconds: the lab's short wait keeps campaigns quick; the
   * client benchmark's idle phase uses the client's own default. @default 2
   */
  noRemoteWaitSeconds?: number
  /** Our clients' --rest-after-idle, seconds. @default the client's (30 s) */
  restAfterIdleSeconds?: number
  /** Hosts per `punchr client` (--host-count). @default 1 */
  clientHostCount?: number
  /** Environment for every process, e.g. PUNCHR_LOG_LEVEL. */
  env?: Record<string, string>
  /**
   * The punchr that our clients run: a Node binary and the script it starts (an installed
   * package's bin/punchr.js, say). @default this checkout's dist/src/cli/main.js on this Node
   */
  clientCli?: { node: string; script: string }
  /** Human progress lines (the CLI prints them). */
  onProgress?: (line: string) => void
  log?: Logger
}

export interface CampaignResult {
  folder: RunFolder
  labId: string
  verdict: Verdict
  table: string
  /** The clients' exit codes by host name (null = killed). */
  clientExits: Record<string, number | null>
  /** Memory and CPU of every process, by `<node>-<program>` (also in summary.json). */
  resources: Record<string, ResourceUsage>
  /** Measurement and ground truth agree, every client exited 0. */
  ok: boolean
}

export async function runCampaign(
  scenario: Scenario,
  options: CampaignOptions = {},
): Promise<CampaignResult> {
  const hosts = checkRunnable(scenario)
  const progress = options.onProgress ?? (() => undefined)
  await buildGoAndRustPrograms(scenario, progress)
  const lab = await upLabNetwork(scenario, options.log === undefined ? {} : { log: options.log })
  try {
    const folder = createRunFolder(options.outDir ?? './lab-runs', scenario.name, lab.id)
    progress(`lab ${lab.id} up in ${Math.round(lab.upMs)} ms; run folder ${folder.root}`)
    return await new Campaign(lab, scenario, hosts, folder, options, progress).run()
  } finally {
    await lab.down()
    progress(`lab ${lab.id} torn down`)
  }
}

/**
 * Builds the go-libp2p and rust-libp2p programs the scenario has (or takes them from the cache),
 * one after the other (a build keeps every core busy), before the network exists: a first build
 * takes minutes, which no lab process should spend waiting.
 */
async function buildGoAndRustPrograms(scenario: Scenario, progress: (line: string) => void): Promise<void> {
  const hosts = scenario.homes.flatMap((home) => home.hosts)
  const impls = new Set(hosts.filter((h) => h.role === 'remote').map((h) => h.impl))
  if (impls.has('go')) {
    progress('go-libp2p remote: building or taking it from the cache (a first build: ~2 min) …')
    await goRemoteBinary()
  }
  if (scenario.bootstrapImpl === 'go' && scenario.bootstrap.length > 0) {
    progress('go-libp2p bootstrap peer: building or taking it from the cache (a first build: ~2 min) …')
    await goBootstrapBinary()
  }
  if (hosts.some((h) => h.role === 'client' && h.impl === 'go')) {
    progress(
      'original Go punchr client (Go 1.19): building or taking it from the cache (a first build: ~3 min) …',
    )
    await legacyGoClientBinary()
  }
  if (impls.has('rust')) {
    progress('rust-libp2p remote: building or taking it from the cache (a first build: ~3 min) …')
    const started = performance.now()
    await rustRemoteBinary()
    progress(`rust-libp2p remote: ready in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
}

/** The hosts of a scenario a campaign can run; a clear error for what it cannot. */
function checkRunnable(scenario: Scenario): { clients: string[]; remotes: string[] } {
  const problems: string[] = []
  if (!scenario.server) problems.push('server: a campaign reports to the punchr server; set server: true')
  if (!scenario.honeypot)
    problems.push('honeypot: the clients get their remotes from the honeypot; set honeypot: true')
  for (const home of scenario.homes) {
    if (home.nat === 'none')
      problems.push(
        `homes ${home.name}: nat none — a host on the internet is no hole-punch case (the honeypot skips ` +
          "peers with a public address), and a js-libp2p one answers the other side's early SYN with RST " +
          'because it cannot listen on its dial port, so the outcome is a race (docs/LAB.md, ground truth)',
      )
  }
  const hosts = scenario.homes.flatMap((home) => home.hosts)
  const clients = hosts.filter((h) => h.role === 'client').map((h) => h.name)
  const remotes = hosts.filter((h) => h.role === 'remote').map((h) => h.name)
  if (clients.length === 0) problems.push('homes: no host has role client')
  const legacyClients = hosts.filter((h) => h.role === 'client' && h.impl === 'go')
  if (
    legacyClients.length > 0 &&
    (scenario.bootstrapImpl !== 'go' || scenario.bootstrap.length < LEGACY_CLIENT_OBSERVERS)
  )
    problems.push(
      `bootstrap: the Go client (${legacyClients.map((h) => h.name).join(', ')}) learns its public address only ` +
        `when ${LEGACY_CLIENT_OBSERVERS} peers at different IPs saw the same one, and it cannot read the observed ` +
        `addresses js-libp2p sends: give bootstrap: ${LEGACY_CLIENT_OBSERVERS} (or more) and bootstrapImpl: go`,
    )
  // Clients without remotes only idle: a campaign for their resource usage, run for a duration.
  if (remotes.length === 0 && scenario.durationSeconds === undefined)
    problems.push('homes: no host has role remote (without remotes, give durationSeconds: the clients idle)')
  if (problems.length > 0)
    throw new ConfigError(
      `scenario ${scenario.name} cannot run as a campaign:\n  - ${problems.join('\n  - ')}`,
    )
  return { clients, remotes }
}

class Campaign {
  private readonly log: Logger
  private readonly env: Record<string, string>
  private server: PeerProcess | undefined
  private serverArgs: string[] = []
  /**
   * Each bootstrap peer's address per path ('ip4/tcp', and in a lab with IPv6 'ip6/tcp' and
   * 'ip6/quic' → multiaddr with /p2p/).
   */
  private bootstrapPaths: Map<Path, string>[] = []
  /** The original Go client's binary, when a client host runs it (built before the network came up). */
  private legacyClientBinary: string | undefined
  /**
   * What each original Go client said it could not do: answers it dropped (an address it
   * could not decode) and rounds it could not report (the server refused, or the report did
   * not marshal). Our client keeps and retries reports itself; the Go client loses them.
   */
  private readonly legacyTroubles = new Map<string, { droppedAnswers: string[]; unreported: string[] }>()
  private readonly resources: Record<string, ResourceUsage> = {}
  private readonly samplers: { process: PeerProcess; sampler: ResourceSampler; recorded: boolean }[] = []

  constructor(
    private readonly lab: LabNetwork,
    private readonly scenario: Scenario,
    private readonly hosts: { clients: string[]; remotes: string[] },
    private readonly folder: RunFolder,
    private readonly options: CampaignOptions,
    private readonly progress: (line: string) => void,
  ) {
    this.log = options.log ?? logger('lab-campaign')
    this.env = options.env ?? {}
  }

  async run(): Promise<CampaignResult> {
    const started = performance.now()
    if (this.hosts.clients.some((name) => (this.lab.node(name) as HostNode).impl === 'go'))
      this.legacyClientBinary = await legacyGoClientBinary()
    const apiKeys = await this.issueApiKeys()
    const relayAddrs = await this.startRelays()
    const bootstrapAddrs = await this.startBootstrapPeers()
    const honeypotAddr = await this.startServer(bootstrapAddrs)
    const remoteNames = await this.startRemotes(relayAddrs, honeypotAddr)
    await this.slowDownRelayLinks()
    await this.startRouterPages()
    const gateways = await this.startUpnpGateways()
    const watching = this.watchGateways(gateways)
    const clientExits = await this.runClients(apiKeys, relayAddrs).finally(() => watching.stop())
    const leftover = await this.stopUpnpGateways(gateways)
    await this.stopServer()

    const db = await openDatabase({ dataDir: this.folder.database })
    const rounds = await readStoredRounds(db, remoteNames).finally(() => db.close())
    const verdict = judge(this.scenario, rounds, this.remotePublicIps(), this.gatewayFacts(gateways))
    verdict.problems.push(...leftover)
    for (const [client, code] of Object.entries(clientExits)) {
      if (code !== 0)
        verdict.problems.push(
          `client ${client} exited with ${code ?? 'a signal'}: see logs/${client}-client.log`,
        )
    }
    verdict.problems.push(...this.legacyClientProblems())
    const table = formatVerdictTable(verdict)
    // Relays and remotes run until the network comes down: their figures so far.
    for (const entry of this.samplers) this.record(entry)
    this.write(verdict, table, clientExits, performance.now() - started)
    return {
      folder: this.folder,
      labId: this.lab.id,
      verdict,
      table,
      clientExits,
      resources: this.resources,
      ok: verdict.problems.length === 0,
    }
  }

  /** `punchr keys add --user <host>` per client host, before the server holds the database. */
  private async issueApiKeys(): Promise<Map<string, string>> {
    const keys = new Map<string, string>()
    for (const client of this.hosts.clients) {
      const { stdout } = await runCommand(
        process.execPath,
        [PUNCHR_CLI, 'keys', 'add', '--user', client, '--data-dir', this.folder.database],
        { env: { ...process.env, ...this.env }, timeoutMs: 60_000 },
      )
      keys.set(client, stdout.trim())
    }
    return keys
  }

  private async startRelays(): Promise<RelayAddrs[]> {
    return Promise.all(
      this.scenario.relays.map(async (name) => {
        const ip = this.lab.ip4(name)
        const { ip6 } = this.lab.node(name)
        const relay = this.peer(name, 'relay', [
          '--ip',
          ip,
          ...(ip6 === undefined ? [] : ['--ip6', ip6]),
          '--port',
          String(PORTS.relay),
        ])
        // A second identify peer at the relay's IP on another port: two observers at one IP are
        // what tells an address-dependent NAT mapping from an address-and-port-dependent one
        // (src/client/nat-behaviour.ts), so every client host is classified. The bootstrap
        // program serves: identify, on TCP and QUIC.
        const observer = this.peer(name, 'bootstrap', [
          '--ip',
          ip,
          ...(ip6 === undefined ? [] : ['--ip6', ip6]),
          '--quic',
          '--port',
          String(PORTS.relayObserver),
        ])
        const [relayId, observerId] = await Promise.all([
          relay.waitFor('ready line', readyPeerId, READY_TIMEOUT_MS),
          observer.waitFor('ready line', readyPeerId, READY_TIMEOUT_MS),
        ])
        this.progress(`relay ${name} ready`)
        return {
          ...pathAddrs(ip, ip6, PORTS.relay, relayId),
          observer: pathAddrs(ip, ip6, PORTS.relayObserver, observerId),
        }
      }),
    )
  }

  private async startBootstrapPeers(): Promise<string[]> {
    this.bootstrapPaths = await Promise.all(
      this.scenario.bootstrap.map(async (name) => {
        const ip = this.lab.ip4(name)
        const { ip6 } = this.lab.node(name)
        const args = ['--ip', ip, '--port', String(PORTS.bootstrap)]
        // go-bootstrap is IPv4 only. With IPv6 the js one also speaks QUIC: go remotes learn
        // their public address on a path from a bootstrap peer reached on it (goRemotePaths).
        const dual = ip6 !== undefined && this.scenario.bootstrapImpl === 'js'
        if (dual) args.push('--ip6', ip6, '--quic')
        const peer =
          this.scenario.bootstrapImpl === 'go'
            ? this.sampled(
                await startGoBootstrap(this.lab, name, args, {
                  env: this.env,
                  logFile: join(this.folder.logs, `${name}-bootstrap.log`),
                }),
              )
            : this.peer(name, 'bootstrap', args)
        const ready = await peer.waitFor('ready line', readyPeerId, READY_TIMEOUT_MS)
        this.progress(`DHT bootstrap peer ${name} (${this.scenario.bootstrapImpl}) ready`)
        const id = `/p2p/${ready}`
        const paths = new Map<Path, string>([['ip4/tcp', `/ip4/${ip}/tcp/${PORTS.bootstrap}${id}`]])
        if (dual) {
          paths.set('ip6/tcp', `/ip6/${ip6}/tcp/${PORTS.bootstrap}${id}`)
          paths.set('ip6/quic', `/ip6/${ip6}/udp/${PORTS.bootstrap}/quic-v1${id}`)
        }
        return paths
      }),
    )
    return this.bootstrapAddrs()
  }

  /** The bootstrap peers' IPv4 TCP addresses: what everybody but a go remote with IPv6 dials. */
  private bootstrapAddrs(): string[] {
    return this.bootstrapPaths.map((paths) => paths.get('ip4/tcp')!)
  }

  /** `punchr up` in node `server`; returns the honeypot's address (with /p2p/). */
  private async startServer(bootstrapAddrs: string[]): Promise<string> {
    const ip = this.lab.ip4('server')
    const { ip6 } = this.lab.node('server')
    this.serverArgs = [
      'up',
      '--host',
      ip,
      // For the clients in IPv6-only homes.
      ...(ip6 === undefined ? [] : ['--host6', ip6]),
      '--port',
      String(PORTS.serverGrpc),
      '--http-port',
      String(PORTS.serverHttp),
      '--honeypot-port',
      String(PORTS.honeypot),
      '--honeypot-http-port',
      String(PORTS.honeypotHttp),
      // What the bootstrap peers pass on to the remotes in their DHT answers.
      '--announce',
      [
        `/ip4/${ip}/tcp/${PORTS.honeypot}`,
        ...(ip6 === undefined ? [] : [`/ip6/${ip6}/tcp/${PORTS.honeypot}`]),
      ].join(','),
      ...(ip6 === undefined ? [] : ['--honeypot-host6', ip6]),
      '--bootstrap-peers',
      bootstrapAddrs.join(','),
      '--data-dir',
      this.folder.database,
      '--retry-pair-after',
      String(this.options.retryPairAfterSeconds ?? 0),
      '--max-results-per-remote-per-minute',
      '1000',
      ...(this.options.filterShares === undefined ? [] : ['--filter-shares', this.options.filterShares]),
    ]
    const honeypot = await this.launchServer()
    this.progress(`punchr up (server + honeypot) ready on ${ip}`)
    return honeypot
  }

  private async launchServer(): Promise<string> {
    const server = this.process('server', 'up', PUNCHR_CLI, this.serverArgs)
    this.server = server
    const ip = this.lab.ip4('server')
    return server.waitFor(
      'honeypot address',
      (line) => {
        const match = /honeypot listening on (\S+\/p2p\/\S+)/.exec(rawLine(line))
        return match?.[1]?.includes(`/ip4/${ip}/`) ? match[1] : undefined
      },
      SERVER_READY_TIMEOUT_MS,
    )
  }

  private async stopServer(): Promise<void> {
    await this.server?.stop()
    this.progress('server stopped')
  }

  /**
   * The DHT peers a remote joins through: the bootstrap peers, else the honeypot; over IPv6 from
   * an IPv6-only home; on each path the relay does not show it for a go remote with IPv6.
   */
  private dhtBootstrapOf(node: HostNode, honeypotAddr: string): string[] {
    if (node.ip6 !== undefined && node.impl === 'go') return this.goRemotePaths(node)
    const path: Path = node.ip === undefined ? 'ip6/tcp' : 'ip4/tcp'
    const viaBootstrap = this.bootstrapPaths.flatMap((paths) => paths.get(path) ?? [])
    if (viaBootstrap.length > 0) return viaBootstrap
    if (path === 'ip4/tcp') return [honeypotAddr]
    const id = honeypotAddr.slice(honeypotAddr.lastIndexOf('/p2p/'))
    return [`/ip6/${this.lab.node('server').ip6}/tcp/${PORTS.honeypot}${id}`]
  }

  /** Starts every remote; returns peer ID → host name. */
  private async startRemotes(relayAddrs: RelayAddrs[], honeypotAddr: string): Promise<Map<string, string>> {
    const names = new Map<string, string>()
    await Promise.all(
      this.hosts.remotes.map(async (name, i) => {
        const node = this.lab.node(name) as HostNode
        const relay = relayAddrs[i % relayAddrs.length]!
        // A remote with QUIC listens on UDP PORTS.remoteQuic (every QUIC dial leaves from that
        // socket) and reaches its relay over QUIC, whose identify tells it its public QUIC
        // address for CONNECT. js and rust remotes hold a second connection to the relay for it
        // and keep TCP for the reservation; a go-libp2p swarm keeps one connection per peer, so
        // a go remote reaches the relay over QUIC only and learns its TCP address from the DHT
        // peers (test/interop/go-remote/main.go, docs/INTEROP.md).
        // In an IPv6-only home the relay's IPv6 addresses alone (--relay6 is the reservation's).
        const ipv4 = node.ip !== undefined
        const quic = node.transports.includes('quic')
          ? [...(ipv4 ? ['--relay-quic', relay.quic] : []), '--quic-port', String(PORTS.remoteQuic)]
          : []
        // A js or rust remote with IPv6 learns its public IPv6 addresses over the relay's IPv6
        // addresses (one more connection each); a go remote from the DHT peers (goRemoteIpv6).
        const ipv6 =
          node.ip6 === undefined || node.impl === 'go' || relay.tcp6 === undefined
            ? []
            : [
                ...(node.transports.includes('tcp') || !ipv4 ? ['--relay6', relay.tcp6] : []),
                ...(node.transports.includes('quic') && relay.quic6 !== undefined
                  ? ['--relay-quic6', relay.quic6]
                  : []),
              ]
        const goIpv6 = node.ip6 !== undefined && node.impl === 'go'
        const args = [
          ...(ipv4 ? ['--relay', relay.tcp] : []),
          ...quic,
          ...ipv6,
          ...(goIpv6 ? ['--ip6'] : []),
          '--dial-port',
          String(PORTS.remoteDial),
          '--listen-port',
          String(PORTS.remoteDial + 1),
          '--ready-timeout-ms',
          String(READY_TIMEOUT_MS),
          ...this.dhtBootstrapOf(node, honeypotAddr).flatMap((addr) => ['--dht-bootstrap', addr]),
          ...(node.behaviour === undefined ? [] : ['--behaviour', node.behaviour]),
          ...(node.behaviour === 'foreign-addrs'
            ? this.foreignAddrs(relayAddrs).flatMap((addr) => ['--foreign-addr', addr])
            : []),
        ]
        const remote = await this.startRemote(node, args)
        const peerId = await remote.waitFor('ready line', readyPeerId, READY_TIMEOUT_MS + 5_000)
        names.set(peerId, name)
        this.progress(
          `remote ${name} (${node.impl}, ${node.nat ?? `${node.nat6}, IPv6 only`}) ready: ${peerId}`,
        )
      }),
    )
    return names
  }

  /**
   * The DHT bootstrap addresses of a go remote with IPv6: bootstrap peer i on the i-th path the
   * relay does not show it (go-libp2p keeps one connection per peer, test/interop/go-remote).
   * The scenario has enough bootstrap peers (scenario.ts).
   */
  private goRemotePaths(node: HostNode): string[] {
    const quic = node.transports.includes('quic')
    const paths: Path[] = [...(quic ? (['ip4/tcp', 'ip6/quic'] as const) : []), 'ip6/tcp']
    return paths.map((path, i) => {
      const addr = this.bootstrapPaths[i]?.get(path)
      if (addr === undefined)
        throw new Error(`go remote ${node.name}: no bootstrap peer ${i + 1} with an ${path} address`)
      return addr
    })
  }

  /** Delays the relay traffic of `slow-relay` remotes, now that their reservations are made. */
  private async slowDownRelayLinks(): Promise<void> {
    for (const router of this.lab.nodes) {
      if (router.kind !== 'router' || router.delayPeers === undefined) continue
      for (const args of slowLinkRules(router.delayPeers)) await this.lab.exec(router.name, 'iptables', args)
      this.progress(`${router.name}: relay traffic delayed by ${router.delayMs} ms each way`)
    }
  }

  /** Each remote host's public IPs: the only ones a round with it may dial (round-checks.ts). */
  private remotePublicIps(): Map<string, string[]> {
    return new Map(
      this.hosts.remotes.map((name) => {
        const node = this.lab.node(name)
        return [name, [node.publicIp, node.publicIp6].filter((ip) => ip !== undefined)]
      }),
    )
  }

  /**
   * What a `foreign-addrs` remote puts into its CONNECT besides its own address: the relays',
   * the server's and the honeypot's addresses (without /p2p), lab nodes a client talks to and
   * must not be made to dial. (A public address of a node the client does not know cannot be
   * told from the remote's own: docs/SECURITY.md says what bounds such dials.)
   */
  private foreignAddrs(relayAddrs: RelayAddrs[]): string[] {
    const server = this.lab.ip4('server')
    const bare = (addr: string) => addr.replace(/\/p2p\/[^/]+$/, '')
    return [
      ...relayAddrs.flatMap((r) => [bare(r.tcp), bare(r.quic)]),
      `/ip4/${server}/tcp/${PORTS.serverGrpc}`,
      `/ip4/${server}/tcp/${PORTS.honeypot}`,
    ]
  }

  /** One remote of the host's implementation; its log is logs/<host>-remote.log whichever it is. */
  private async startRemote(node: HostNode, args: string[]): Promise<PeerProcess> {
    const options = { env: this.env, logFile: join(this.folder.logs, `${node.name}-remote.log`) }
    switch (node.impl) {
      case 'js':
        return this.peer(node.name, 'remote', args)
      case 'go':
        return this.sampled(await startGoRemote(this.lab, node.name, args, options))
      case 'rust':
        // Stock: rust-libp2p lists /libp2p/dcutr in identify only on relayed connections it
        // dialled, never on the direct one to the honeypot, which records it as a relay-only
        // rust-libp2p relay client that punches unannounced (docs/INTEROP.md, rust finding R1;
        // src/honeypot/qualify.ts). The program's --advertise-dcutr is for experiments only.
        return this.sampled(await startRustRemote(this.lab, node.name, args, options))
    }
  }

  /** Runs `punchr client` in every client host until done; returns the exit codes. */
  private async runClients(
    apiKeys: Map<string, string>,
    relayAddrs: RelayAddrs[],
  ): Promise<Record<string, number | null>> {
    const rounds =
      this.options.rounds ?? (this.options.durationSeconds === undefined ? this.scenario.rounds : undefined)
    const duration = this.options.durationSeconds ?? this.scenario.durationSeconds
    const fault = new ServerFault(this.options.killServerAfterRounds)
    const clients = this.hosts.clients.map((name) =>
      this.startClient(name, rounds, apiKeys.get(name)!, relayAddrs, (line) => {
        if (line.trim() !== '') this.progress(`${name}: ${line}`)
        // `punchr client` prints `round <n> …` once a round's report is queued, the Go client a
        // JSON line `{"round":<n>,…}` once it sent it.
        if (/^round \d+ /.test(line) || /^\{"round":\d+/.test(line)) fault.roundFinished()
      }),
    )
    this.progress(
      `${clients.length} client(s) measuring: ${rounds === undefined ? `for ${duration} s` : `${rounds} round(s) each`}`,
    )
    let faultError: unknown
    const faults = this.injectServerFault(fault).catch((err: unknown) => {
      faultError = err
      for (const c of clients) signalTree(c.child.pid, 'SIGINT')
    })
    const legacy = this.hosts.clients.some((name) => (this.lab.node(name) as HostNode).impl === 'go')
    const budgetMs =
      rounds === undefined
        ? (duration ?? 0) * 1000 + CLIENT_STOP_MS
        : rounds * (legacy ? LEGACY_ROUND_BUDGET_MS : ROUND_BUDGET_MS) + READY_TIMEOUT_MS
    const timers: NodeJS.Timeout[] = []
    if (rounds === undefined)
      timers.push(
        setTimeout(
          () => {
            for (const c of clients) signalTree(c.child.pid, 'SIGINT')
          },
          (duration ?? 0) * 1000,
        ),
      )
    timers.push(
      setTimeout(() => {
        this.log.error({ budgetMs }, 'clients overran their time budget; killing them')
        for (const c of clients) signalTree(c.child.pid, 'SIGKILL')
      }, budgetMs),
    )
    try {
      const exits = await Promise.all(clients.map((c) => c.exited))
      fault.cancel()
      await faults
      if (faultError !== undefined) throw faultError
      return Object.fromEntries(this.hosts.clients.map((name, i) => [name, exits[i]!.code]))
    } finally {
      for (const t of timers) clearTimeout(t)
    }
  }

  /**
   * One client host's measuring program: `punchr client`, bootstrapping from the relays on each
   * of its transports (identify over each tells it its address there); or, for `impl: go`, the
   * original Go client, bootstrapping from the go-libp2p bootstrap peers as it would from the
   * IPFS bootstrappers (checkRunnable made sure there are enough of them).
   */
  private startClient(
    name: string,
    rounds: number | undefined,
    apiKey: string,
    relayAddrs: RelayAddrs[],
    onLine: (line: string) => void,
  ): PeerProcess {
    const node = this.lab.node(name) as HostNode
    // A client in an IPv6-only home reaches the server over IPv6 (its --host6).
    const server =
      node.ip === undefined
        ? `[${this.lab.node('server').ip6}]:${PORTS.serverGrpc}`
        : `${this.lab.ip4('server')}:${PORTS.serverGrpc}`
    const hostCount = String(this.options.clientHostCount ?? 1)
    const keyFile = join(this.folder.clients, `${name}.keys`)
    if (node.impl === 'go') {
      const troubles = { droppedAnswers: [] as string[], unreported: [] as string[] }
      this.legacyTroubles.set(name, troubles)
      const watch = (line: string) => {
        onLine(line)
        const said = parseJsonLine(line)
        if (said?.answerDropped === true) troubles.droppedAnswers.push(String(said.error))
        if (typeof said?.round === 'number' && said.tracked === false)
          troubles.unreported.push(`round ${said.round}: ${String(said.error)}`)
      }
      const args = [
        '--server',
        server,
        '--api-key',
        apiKey,
        '--host-count',
        hostCount,
        '--rounds',
        String(rounds ?? 0),
        '--bootstrap-peers',
        this.bootstrapAddrs().join(','),
        '--key-file',
        keyFile,
        '--no-remote-wait',
        `${NO_REMOTE_WAIT_S}s`,
      ]
      return this.sampled(
        new PeerProcess(this.lab, name, 'client', args[0]!, args.slice(1), {
          env: this.env,
          node: this.legacyClientBinary!,
          logFile: join(this.folder.logs, `${name}-client.log`),
          stdoutFile: join(this.folder.logs, `${name}-client.out`),
          onLine: watch,
        }),
      )
    }
    // A client with IPv6 bootstraps over it too: identify tells it its public IPv6 addresses.
    // In an IPv6-only home over IPv6 alone.
    // The relays and their observers: every client host learns its NAT mapping behaviour.
    const bootstrap = relayAddrs.flatMap((relay) =>
      [relay, relay.observer].flatMap((peer) =>
        node.transports.flatMap((t) => {
          const v6 = t === 'tcp' ? peer.tcp6 : peer.quic6
          return [
            ...(node.ip === undefined ? [] : [peer[t]]),
            ...(node.ip6 === undefined || v6 === undefined ? [] : [v6]),
          ]
        }),
      ),
    )
    return this.process(
      name,
      'client',
      this.options.clientCli?.script ?? PUNCHR_CLI,
      [
        'client',
        '--server',
        server,
        '--host-count',
        hostCount,
        '--rounds',
        String(rounds ?? 0),
        '--transports',
        node.transports.join(','),
        '--bootstrap-peers',
        bootstrap.join(','),
        '--key-file',
        keyFile,
        '--queue-dir',
        join(this.folder.clients, `${name}-queue`),
        '--metrics-port',
        '0',
        '--no-remote-wait',
        String(this.options.noRemoteWaitSeconds ?? NO_REMOTE_WAIT_S),
        ...(this.options.restAfterIdleSeconds === undefined
          ? []
          : ['--rest-after-idle', String(this.options.restAfterIdleSeconds)]),
      ],
      { PUNCHR_CLIENT_API_KEY: apiKey },
      onLine,
      this.options.clientCli?.node,
    )
  }

  private legacyClientProblems(): string[] {
    return [...this.legacyTroubles].flatMap(([client, t]) => [
      ...(t.droppedAnswers.length === 0
        ? []
        : [
            `client ${client} (the Go client) dropped ${t.droppedAnswers.length} GetAddrInfo answer(s) it could not ` +
              `decode, first: ${t.droppedAnswers[0]}`,
          ]),
      ...(t.unreported.length === 0
        ? []
        : [
            `client ${client} (the Go client) could not report ${t.unreported.length} round(s), which are lost; ` +
              `first: ${t.unreported[0]}`,
          ]),
    ])
  }

  /** `killServerAfterRounds`: SIGKILL `punchr up` mid-run, then start it again on the same database. */
  private async injectServerFault(fault: ServerFault): Promise<void> {
    if (!(await fault.due)) return
    this.server?.child.kill('SIGKILL')
    await this.server?.exited
    this.progress('fault injection: server killed (SIGKILL)')
    await sleep(this.options.serverDownMs ?? 3_000)
    await this.launchServer()
    this.progress('fault injection: server restarted')
  }

  /**
   * A login page on the LAN side of every client's IPv4 router, like a home router's: our
   * client fingerprints it for its reports, and the verdict checks that nothing private of the
   * page left the client (round-checks.ts).
   */
  private async startRouterPages(): Promise<void> {
    const routers = new Set(
      this.hosts.clients.flatMap((name) => {
        const node = this.lab.node(name) as HostNode
        return node.router !== undefined && node.gateway !== undefined ? [node.router] : []
      }),
    )
    await Promise.all(
      [...routers].map((router) => {
        const lanIp = (this.lab.node(router) as RouterNode).lanIp!
        return this.peer(router, 'router-login', ['--ip', lanIp, '--port', '80']).waitFor(
          'ready line',
          (line) => ((line as { ready?: boolean }).ready === true ? true : undefined),
          READY_TIMEOUT_MS,
        )
      }),
    )
  }

  /** miniupnpd on the router of every home with `upnp: true` (src/lab/miniupnpd.ts). */
  private async startUpnpGateways(): Promise<UpnpGateway[]> {
    const homes = this.scenario.homes.filter((home) => home.upnp)
    if (homes.length > 0) this.progress(`miniupnpd on ${homes.map((h) => `${h.name}-router`).join(', ')}`)
    return Promise.all(
      homes.map(async (home) => {
        const router = this.lab.nodes.find(
          (n): n is RouterNode => n.kind === 'router' && n.home === home.name,
        )!
        const daemon = await startMiniupnpd({
          netns: router.netns,
          wan: router.iface,
          lan: router.lanIface,
          lanSubnet: router.lanSubnet!,
        })
        return { home: home.name, router, daemon, seen: new Set<string>() }
      }),
    )
  }

  /**
   * Samples every gateway's mappings each second while the clients run: the ground truth the
   * mappings in their reports are checked against (a client removes its own on exit).
   */
  private watchGateways(gateways: readonly UpnpGateway[]): { stop: () => void } {
    if (gateways.length === 0) return { stop: () => undefined }
    const sample = async () => {
      for (const g of gateways)
        for (const m of await g.daemon.mappings().catch(() => []))
          g.seen.add(`${m.protocol} ${m.internalPort} ${m.externalPort}`)
    }
    const timer = setInterval(() => void sample(), 1_000)
    return { stop: () => clearInterval(timer) }
  }

  /** Stops the gateways; a mapping still held after every client exited is a problem. */
  private async stopUpnpGateways(gateways: readonly UpnpGateway[]): Promise<string[]> {
    const problems: string[] = []
    for (const g of gateways) {
      const left = await g.daemon.mappings().catch((err: unknown) => {
        problems.push(
          `${g.router.name}: could not read miniupnpd's mappings after the clients exited: ${String(err)}`,
        )
        return []
      })
      if (left.length > 0)
        problems.push(
          `${g.router.name} still holds ${left.map((m) => `${m.protocol} ${m.internalIp}:${m.internalPort}→${m.externalPort}`).join(', ')} after the clients exited: they did not remove their mappings`,
        )
      await g.daemon.stop()
    }
    return problems
  }

  /** Per client host in a UPnP home: its router's WAN address and the mappings seen. */
  private gatewayFacts(
    gateways: readonly UpnpGateway[],
  ): Map<string, { addr: string; seen: ReadonlySet<string> }> {
    return new Map(
      gateways.flatMap((g) =>
        this.hosts.clients
          .filter((name) => (this.lab.node(name) as HostNode).home === g.home)
          .map((name) => [name, { addr: g.router.publicIp!, seen: g.seen }] as const),
      ),
    )
  }

  private peer(node: string, program: PeerProgram, args: string[]): PeerProcess {
    return this.sampled(
      startPeer(this.lab, node, program, args, {
        env: this.env,
        logFile: join(this.folder.logs, `${node}-${program}.log`),
      }),
    )
  }

  /** Samples the process's memory and CPU until it exits (or the results are written). */
  private sampled(process: PeerProcess): PeerProcess {
    const pid = process.child.pid
    if (pid === undefined) return process
    const entry = { process, sampler: new ResourceSampler(pid), recorded: false }
    this.samplers.push(entry)
    void process.exited.then(() => this.record(entry))
    return process
  }

  /** Stops one sampler and files its figures; a restarted program gets a numbered key. */
  private record(entry: { process: PeerProcess; sampler: ResourceSampler; recorded: boolean }): void {
    if (entry.recorded) return
    entry.recorded = true
    const usage = entry.sampler.stop()
    if (usage === undefined) return
    const base = `${entry.process.nodeName}-${entry.process.program}`
    let key = base
    for (let n = 2; key in this.resources; n++) key = `${base}-${n}`
    this.resources[key] = usage
  }

  private process(
    node: string,
    program: string,
    script: string,
    args: string[],
    env: Record<string, string> = {},
    onLine?: (line: string) => void,
    nodeBinary?: string,
  ): PeerProcess {
    return this.sampled(
      new PeerProcess(this.lab, node, program, script, args, {
        env: { ...this.env, ...env },
        ...(nodeBinary === undefined ? {} : { node: nodeBinary }),
        logFile: join(this.folder.logs, `${node}-${program}.log`),
        stdoutFile: join(this.folder.logs, `${node}-${program}.out`),
        ...(onLine === undefined ? {} : { onLine }),
      }),
    )
  }

  private write(
    verdict: Verdict,
    table: string,
    clientExits: Record<string, number | null>,
    elapsedMs: number,
  ): void {
    const lines = verdict.rounds.map(({ round, expected, agrees }) =>
      JSON.stringify({ ...round, expected: expected?.outcome, expectedBecause: expected?.reason, agrees }),
    )
    writeFileSync(this.folder.results, lines.length === 0 ? '' : `${lines.join('\n')}\n`)
    writeFileSync(this.folder.table, `${table}\n`)
    const summary = {
      scenario: this.scenario.name,
      labId: this.lab.id,
      elapsedSeconds: Math.round(elapsedMs / 100) / 10,
      rounds: verdict.rounds.length,
      agree: verdict.agree,
      disagree: verdict.disagree,
      notJudged: verdict.notJudged,
      groups: verdict.groups,
      clientExits,
      resources: this.resources,
      problems: verdict.problems,
    }
    writeFileSync(this.folder.summary, `${JSON.stringify(summary, null, 2)}\n`)
  }
}

/** When the server is to be killed: after the n-th finished round, or never (cancelled). */
class ServerFault {
  /** True when the fault is due, false when the campaign ended first or none was asked for. */
  readonly due: Promise<boolean>
  private settle: (due: boolean) => void = () => undefined
  private rounds = 0

  constructor(private readonly afterRounds: number | undefined) {
    this.due = new Promise((resolve) => {
      this.settle = resolve
    })
    if (afterRounds === undefined) this.settle(false)
  }

  roundFinished(): void {
    this.rounds++
    if (this.rounds === this.afterRounds) this.settle(true)
  }

  cancel(): void {
    this.settle(false)
  }
}

/** The peer ID of a lab peer program's ready line. */
function readyPeerId(line: unknown): string | undefined {
  const ready = line as { ready?: boolean; peerId?: string }
  return ready.ready === true && typeof ready.peerId === 'string' ? ready.peerId : undefined
}

/** A stdout line of a program that prints JSON lines, or undefined for any other line. */
function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** PeerProcess parses stdout as JSON; the CLI prints text, which arrives as `{ raw }`. */
function rawLine(line: unknown): string {
  const raw = (line as { raw?: unknown }).raw
  return typeof raw === 'string' ? raw : JSON.stringify(line)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A peer's addresses on every path of the lab, from its IPs, port and peer ID. */
function pathAddrs(ip: string, ip6: string | undefined, port: number, peerId: string): PathAddrs {
  return {
    tcp: `/ip4/${ip}/tcp/${port}/p2p/${peerId}`,
    quic: `/ip4/${ip}/udp/${port}/quic-v1/p2p/${peerId}`,
    ...(ip6 === undefined
      ? {}
      : {
          tcp6: `/ip6/${ip6}/tcp/${port}/p2p/${peerId}`,
          quic6: `/ip6/${ip6}/udp/${port}/quic-v1/p2p/${peerId}`,
        }),
  }
}

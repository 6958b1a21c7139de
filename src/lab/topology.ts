import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { type Logger, logger } from '../lib/logger.js'
import { type CommandOptions, type CommandResult, runCommand } from './command.js'
import { registerTeardown, type SyncTeardown, unregisterTeardown } from './exit-hooks.js'
import { labIdOf, newLabId } from './names.js'
import { DELAY_QUEUE, type NatType } from './nat-profiles.js'
import {
  ipBatch,
  ipBatchSync,
  killNamespaceProcesses,
  killNamespaceProcessesSync,
  listNamespaces,
  namespaceInode,
} from './netns.js'
import { forgetOwner, recordOwner } from './owners.js'
import { netDelayBinary } from './peers/go-build.js'
import { type LabNode, type LabPlan, planLab, type RouterNode } from './plan.js'
import { assertLabAvailable } from './preflight.js'
import type { Scenario } from './scenario.js'

export type { HostNode, LabNode, PublicNode, PublicNodeKind, RouterNode } from './plan.js'

/**
 * Brings a scenario's network up as Linux network namespaces and takes it down again:
 *
 *   [internet ns: bridge] ── relays, server (+ honeypot), bootstrap (one namespace each)
 *            └──────────── per home network: router ns (WAN | NAT | LAN bridge) ── host namespaces
 *
 * Every link is created directly inside its namespaces (`ip link add … netns A type veth peer
 * … netns B`), so the root namespace never sees an interface of ours. The whole build is one
 * `ip -batch` in the root namespace, one `ip -n <ns> -batch` per namespace and one
 * `ip netns exec <router> sh` per router (ip_forward, iptables-restore), the latter two in
 * parallel: ~0.1 s for a few home networks (docs/LAB.md has measurements).
 */

export interface UpOptions {
  /** The lab id (`pl` + 6 hex digits) that prefixes every name. @default a fresh random one */
  id?: string
  /** Tear down on exit, uncaught errors and SIGINT/SIGTERM/SIGHUP of this process. @default true */
  teardownOnExit?: boolean
  /** How long down() lets SIGTERMed processes finish before it SIGKILLs them. @default 1000 ms */
  stopGraceMs?: number
  log?: Logger
}

export type ExecOptions = Pick<CommandOptions, 'input' | 'timeoutMs' | 'env'>

export interface LabNetwork {
  /** The prefix of every namespace and interface name, e.g. `pl1a2b3c`. */
  readonly id: string
  readonly scenario: Scenario
  /** Public nodes first, then each home's router and hosts; see LabNode for the addresses. */
  readonly nodes: readonly LabNode[]
  /** Every namespace of the lab, the internet's first. */
  readonly namespaces: readonly string[]
  /** How long up took, in milliseconds. */
  readonly upMs: number
  /** The node of that name; throws for an unknown name. */
  node(name: string): LabNode
  /** The node's IPv4 address (`publicIp`: the one the internet sees); throws in an IPv6-only home. */
  ip4(name: string, which?: 'ip' | 'publicIp'): string
  /** A host's IPv4 NAT profile; throws for a router or public node, or in an IPv6-only home. */
  nat(host: string): NatType
  /** The argv that runs `cmd args` inside the node's namespace: `['ip', ['netns', 'exec', ns, cmd, …args]]`. */
  command(node: string, cmd: string, args?: readonly string[]): [string, string[]]
  /** Runs a command inside the node's namespace to completion; rejects with CommandError unless it exits 0. */
  exec(node: string, cmd: string, args?: readonly string[], options?: ExecOptions): Promise<CommandResult>
  /** Starts a process inside the node's namespace; down() stops it (and anything it started there). */
  spawn(node: string, cmd: string, args?: readonly string[], options?: SpawnOptions): ChildProcess
  /**
   * SIGTERMs the processes it started, SIGKILLs whatever is still inside the lab's namespaces
   * after the grace period, deletes the namespaces (their links go with them). Idempotent.
   */
  down(): Promise<void>
}

/** Router set-up inside its namespace; the NAT profile's rules arrive on stdin. */
const ROUTER_SETUP = 'echo 1 > /proc/sys/net/ipv4/ip_forward && exec iptables-restore'
/** The same for a router's IPv6 (nat-profiles.ts routerRules6). */
const ROUTER_SETUP6 = 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding && exec ip6tables-restore'

export async function upLabNetwork(scenario: Scenario, options: UpOptions = {}): Promise<LabNetwork> {
  assertLabAvailable()
  const started = performance.now()
  const id = options.id ?? newLabId(listNamespaces().flatMap((ns) => labIdOf(ns) ?? []))
  const plan = planLab(scenario, id)
  const clash = plan.namespaces.find((ns) => namespaceInode(ns) !== undefined)
  if (clash !== undefined) throw new Error(`namespace ${clash} exists already: lab id ${id} is in use`)

  // Built (or found in the cache) before anything exists: a first build takes a minute.
  const delayed = plan.nodes.some((n) => n.kind === 'router' && n.delayMs > 0)
  const delayBinary = delayed ? await netDelayBinary() : undefined
  const lab = new Lab(plan, scenario, options)
  if (options.teardownOnExit !== false) registerTeardown(lab)
  recordOwner({ id, pid: process.pid, scenario: scenario.name, startedAt: new Date().toISOString() })
  try {
    await ipBatch(plan.create)
    await Promise.all([
      ...[...plan.configure].map(([netns, lines]) => ipBatch(lines, { netns })),
      ...[...plan.firewall].map(([netns, rules]) =>
        runCommand('ip', ['netns', 'exec', netns, 'sh', '-c', ROUTER_SETUP], { input: rules }),
      ),
      ...[...plan.firewall6].map(([netns, rules]) =>
        runCommand('ip', ['netns', 'exec', netns, 'sh', '-c', ROUTER_SETUP6], { input: rules }),
      ),
    ])
    if (delayBinary !== undefined) await startRouterDelays(lab, delayBinary)
  } catch (err) {
    await lab.down()
    throw new Error(`bringing up lab ${id} (scenario ${scenario.name}) failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
  lab.upMs = performance.now() - started
  lab.log.debug({ id, scenario: scenario.name, ms: Math.round(lab.upMs) }, 'lab up')
  return lab
}

/** How long net-delay gets to bind its queue. */
const DELAY_READY_MS = 10_000

/**
 * net-delay in every router with a delay, ready before this returns: until it is bound to
 * the queue the router's rules send every forwarded packet to, the router forwards nothing.
 */
async function startRouterDelays(lab: Lab, binary: string): Promise<void> {
  const routers = lab.nodes.filter((n): n is RouterNode => n.kind === 'router' && n.delayMs > 0)
  await Promise.all(
    routers.map(async (router) => {
      const child = lab.spawn(
        router.name,
        binary,
        ['--delay', `${router.delayMs}ms`, '--queue', String(DELAY_QUEUE)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child.stderr?.on('data', (chunk: Buffer) =>
        lab.log.warn({ router: router.name, output: chunk.toString().trim() }, 'net-delay'),
      )
      const ready = await readyLine(child, DELAY_READY_MS)
      if (ready.ready !== true)
        throw new Error(`net-delay in ${router.name} did not start: ${ready.error ?? 'no ready line'}`)
    }),
  )
}

/** The first JSON line a lab program prints on stdout, or why there is none. */
function readyLine(child: ChildProcess, timeoutMs: number): Promise<{ ready?: boolean; error?: string }> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: child.stdout! })
    const done = (value: { ready?: boolean; error?: string }) => {
      clearTimeout(timer)
      lines.close()
      resolve(value)
    }
    const timer = setTimeout(() => done({ error: `no ready line within ${timeoutMs} ms` }), timeoutMs)
    lines.once('line', (line) => {
      try {
        done(JSON.parse(line) as { ready?: boolean; error?: string })
      } catch {
        done({ error: `not a JSON line: ${line}` })
      }
    })
    child.once('exit', (code) => done({ error: `exited with ${code}` }))
  })
}

class Lab implements LabNetwork, SyncTeardown {
  readonly id: string
  readonly nodes: readonly LabNode[]
  readonly namespaces: readonly string[]
  readonly log: Logger
  upMs = 0
  private readonly byName: Map<string, LabNode>
  private readonly children = new Set<ChildProcess>()
  private readonly stopGraceMs: number
  private stopping: Promise<void> | undefined
  private closed = false
  private tornDownSync = false

  constructor(
    plan: LabPlan,
    readonly scenario: Scenario,
    options: UpOptions,
  ) {
    this.id = plan.id
    this.nodes = plan.nodes
    this.namespaces = plan.namespaces
    this.byName = new Map(plan.nodes.map((n) => [n.name, n]))
    this.stopGraceMs = options.stopGraceMs ?? 1_000
    this.log = options.log ?? logger('lab')
  }

  node(name: string): LabNode {
    const node = this.byName.get(name)
    if (node === undefined)
      throw new Error(`lab ${this.id} has no node '${name}'; nodes: ${[...this.byName.keys()].join(', ')}`)
    return node
  }

  ip4(name: string, which: 'ip' | 'publicIp' = 'ip'): string {
    const ip = this.node(name)[which]
    if (ip === undefined) throw new Error(`node '${name}' has no IPv4: its home is IPv6-only`)
    return ip
  }

  nat(host: string): NatType {
    const node = this.node(host)
    if (node.kind !== 'host') throw new Error(`node '${host}' is a ${node.kind}, not a host`)
    if (node.nat === undefined) throw new Error(`host '${host}' has no IPv4 NAT: its home is IPv6-only`)
    return node.nat
  }

  command(node: string, cmd: string, args: readonly string[] = []): [string, string[]] {
    return ['ip', ['netns', 'exec', this.node(node).netns, cmd, ...args]]
  }

  exec(
    node: string,
    cmd: string,
    args: readonly string[] = [],
    options: ExecOptions = {},
  ): Promise<CommandResult> {
    this.assertUp()
    const [bin, argv] = this.command(node, cmd, args)
    return runCommand(bin, argv, { ...options, onSpawn: (child) => this.track(child) })
  }

  spawn(node: string, cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.assertUp()
    const [bin, argv] = this.command(node, cmd, args)
    const child = spawn(bin, argv, options)
    this.track(child)
    return child
  }

  down(): Promise<void> {
    this.stopping ??= this.teardown()
    return this.stopping
  }

  private async teardown(): Promise<void> {
    this.closed = true
    const started = performance.now()
    await this.stopChildren()
    const existing = this.namespaces.filter((ns) => namespaceInode(ns) !== undefined)
    const inodes = new Set(existing.map((ns) => namespaceInode(ns)).filter((i) => i !== undefined))
    // Grandchildren, daemons, anything started in a namespace behind our back.
    const killed = await killNamespaceProcesses(inodes)
    if (killed.length > 0) this.log.debug({ id: this.id, pids: killed }, 'killed leftover processes')
    try {
      await ipBatch(
        existing.map((ns) => `netns del ${ns}`),
        { force: true },
      )
    } finally {
      forgetOwner(this.id)
      unregisterTeardown(this)
    }
    this.log.debug({ id: this.id, ms: Math.round(performance.now() - started) }, 'lab down')
  }

  /** SIGTERM, then SIGKILL after the grace period for those that did not listen. */
  private async stopChildren(): Promise<void> {
    const running = [...this.children].filter((c) => c.exitCode === null && c.signalCode === null)
    if (running.length === 0) return
    const exited = running.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())))
    for (const c of running) c.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.stopGraceMs)
    })
    await Promise.race([Promise.all(exited), graceOver])
    clearTimeout(timer)
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }

  /** For exit hooks: may run while down() is half-way (the process is ending); runs once. */
  downSync(): void {
    if (this.tornDownSync) return
    this.tornDownSync = true
    this.closed = true
    for (const c of this.children) c.kill('SIGKILL')
    const inodes = new Set(this.namespaces.map((ns) => namespaceInode(ns)).filter((i) => i !== undefined))
    killNamespaceProcessesSync(inodes)
    ipBatchSync(
      this.namespaces.filter((ns) => namespaceInode(ns) !== undefined).map((ns) => `netns del ${ns}`),
      { force: true },
    )
    forgetOwner(this.id)
  }

  private track(child: ChildProcess): void {
    this.children.add(child)
    const forget = () => this.children.delete(child)
    child.once('exit', forget)
    child.once('error', forget)
  }

  private assertUp(): void {
    if (this.closed) throw new Error(`lab ${this.id} is down`)
  }
}

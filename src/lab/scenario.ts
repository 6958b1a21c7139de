import { ConfigError } from '../lib/errors.js'
import { formatIPv6, isPublicIp, parseIPv6 } from '../lib/multiaddr.js'
import { REMOTE_BEHAVIOURS, type RemoteBehaviour } from './behaviours.js'
import { formatCidr, nonPublicOverlap, parseCidr, size } from './ipv4.js'
import {
  NAT_ALIASES,
  NAT_TYPES,
  NAT6_TYPES,
  type Nat6Type,
  type NatType,
  TRANSPORTS,
  type Transport,
  UNSUPPORTED_NATS,
} from './nat-profiles.js'

/**
 * A lab scenario: the network (public nodes, home networks behind NATs) and what runs on it.
 * Files are JSON or YAML (see scenario-file.ts); `validateScenario` turns the parsed value into
 * a Scenario with every default filled in, or throws one error listing every problem with its
 * path, e.g. `homes[1].nat: …`.
 */
export interface Scenario {
  name: string
  description: string | undefined
  /** The "internet" subnet, normalised CIDR. @default '11.0.0.0/24' */
  internet: string
  /**
   * The internet's IPv6 /64, normalised; home n's public LAN is the n-th /64 after it. Undefined
   * when no home has IPv6 (`nat6`). @default '2600:11::/64'
   */
  internet6: string | undefined
  /** Relay node names; a count n in the file becomes relay-1 … relay-n. @default 1 relay */
  relays: string[]
  /** Run the punchr server on the internet (node `server`). @default true */
  server: boolean
  /**
   * Run the punchr honeypot too. It shares the server's embedded database, so both run as
   * one `punchr up` process in node `server`. @default the value of `server`
   */
  honeypot: boolean
  /** DHT bootstrap node names; a count n becomes bootstrap-1 … bootstrap-n. @default none */
  bootstrap: string[]
  /**
   * What the bootstrap peers run: `js` (js-libp2p, src/lab/peers/bootstrap.ts) or `go`
   * (go-libp2p, test/interop/go-remote/cmd/go-bootstrap), which the original Go punchr client needs to learn
   * its public address (docs/INTEROP.md, "Old punchr clients in the lab"). @default 'js'
   */
  bootstrapImpl: BootstrapImpl
  homes: HomeNetwork[]
  /** Rounds each client runs; undefined when the scenario runs for `durationSeconds`. */
  rounds: number | undefined
  durationSeconds: number | undefined
  /** Overrides of the ground truth for some pairs, first match wins (see expectations.ts). */
  expect: Expectation[]
}

export interface HomeNetwork {
  name: string
  /** The router's IPv4 profile; undefined = an IPv6-only home (no IPv4 beyond loopback). */
  nat?: NatType
  hosts: HostSpec[]
  /** The router's IPv6 profile; undefined = the home has no IPv6. */
  nat6?: Nat6Type
  /**
   * One-way delay the home's router adds to every packet it forwards, in both directions (a
   * round trip through it takes twice as long more): the lab's latency (docs/LAB.md,
   * "Latency"). Not for `nat: none`, which has no router. @default 0
   */
  delayMs: number
  /**
   * The router runs Debian's miniupnpd (UPnP IGD and NAT-PMP) on its LAN side, as many home
   * routers do: the clients map their listening ports (src/lab/miniupnpd.ts). @default false
   */
  upnp: boolean
}

/** The largest router delay a scenario may ask for. */
export const MAX_DELAY_MS = 1_000

export type HostRole = 'remote' | 'client'
export const HOST_ROLES: readonly HostRole[] = ['remote', 'client']
export type HostImpl = 'js' | 'go' | 'rust'
export const HOST_IMPLS: readonly HostImpl[] = ['js', 'go', 'rust']

export type BootstrapImpl = 'js' | 'go'
export const BOOTSTRAP_IMPLS: readonly BootstrapImpl[] = ['js', 'go']

export interface HostSpec {
  name: string
  /** `client` = a punchr client (measures); `remote` = a DCUtR peer it punches to. */
  role: HostRole
  /**
   * A remote's libp2p implementation; a client's: `js` = `punchr client`, `go` = the original
   * Go punchr client's stack (test/interop/legacy-go-client, go-libp2p 0.23). @default 'js'
   */
  impl: HostImpl
  /** @default ['tcp', 'quic'] */
  transports: Transport[]
  /** How a `js` remote misbehaves (behaviours.ts); undefined = it follows the DCUtR spec. */
  behaviour?: RemoteBehaviour
}

/** Outcomes an expectation may name: the punchr HolePunchOutcome vocabulary. */
export const LAB_OUTCOMES = [
  'SUCCESS',
  'FAILED',
  'NO_CONNECTION',
  'NO_STREAM',
  'CONNECTION_REVERSED',
  'CANCELLED',
] as const
export type LabOutcome = (typeof LAB_OUTCOMES)[number]

export interface Expectation {
  /** A client host's name or a home network's name; undefined = any client. */
  client: string | undefined
  /** A remote host's name or a home network's name; undefined = any remote. */
  remote: string | undefined
  transport: Transport | undefined
  outcome: LabOutcome
  reason: string | undefined
}

export const DEFAULT_INTERNET = '11.0.0.0/24'
/**
 * In 2000::/3 and in none of the ranges libp2p or src/lib/multiaddr.ts treat as private (as
 * 11.0.0.0/24 for IPv4); it exists only inside the lab's namespaces.
 */
export const DEFAULT_INTERNET6 = '2600:11::/64'
/** Home n (from 1) gets 10.n.0.0/24, so at most 254 homes of at most 253 hosts each. */
export const MAX_HOMES = 254
export const MAX_HOSTS_PER_HOME = 253
/** Interface names carry a node index (`pl1a2b3c-i9999`) within Linux's 15 characters. */
export const MAX_NODES = 9999
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/
/** Node names the lab uses itself. */
const RESERVED_NAMES = new Set(['internet'])

export interface ScenarioIssue {
  /** Where in the file, e.g. `homes[1].hosts[0].role`; '' for the whole document. */
  path: string
  reason: string
}

/** A scenario file is not acceptable; `issues` lists every problem, the message shows them all. */
export class ScenarioError extends ConfigError {
  readonly issues: ScenarioIssue[]
  constructor(source: string, issues: ScenarioIssue[]) {
    const lines = issues.map((i) => `  - ${i.path === '' ? '(scenario)' : i.path}: ${i.reason}`)
    super(`invalid scenario ${source}:\n${lines.join('\n')}`)
    this.issues = issues
  }
}

/** Collects issues while walking the document, so the user sees all of them at once. */
class Checker {
  readonly issues: ScenarioIssue[] = []
  fail(path: string, reason: string): undefined {
    this.issues.push({ path, reason })
    return undefined
  }

  object(value: unknown, path: string, known: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return this.fail(path, `must be an object, not ${describe(value)}`)
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) this.fail(join(path, key), `unknown field (known: ${known.join(', ')})`)
    }
    return record
  }

  name(value: unknown, path: string): string | undefined {
    if (typeof value !== 'string') return this.fail(path, `must be a name (string), not ${describe(value)}`)
    if (!NAME_PATTERN.test(value))
      return this.fail(
        path,
        `${JSON.stringify(value)} is not a valid name: 1–32 lower-case letters, digits and dashes, starting with a letter, not ending with a dash`,
      )
    if (RESERVED_NAMES.has(value)) return this.fail(path, `${JSON.stringify(value)} is reserved by the lab`)
    return value
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T | undefined {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T
    return this.fail(path, `must be one of ${allowed.join(', ')}, not ${describe(value)}`)
  }

  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback
    if (typeof value === 'boolean') return value
    this.fail(path, `must be true or false, not ${describe(value)}`)
    return fallback
  }

  optionalString(value: unknown, path: string): string | undefined {
    if (value === undefined || typeof value === 'string') return value
    return this.fail(path, `must be a string, not ${describe(value)}`)
  }

  positive(value: unknown, path: string, integer: boolean): number | undefined {
    if (value === undefined) return undefined
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isInteger(value))
    )
      return this.fail(
        path,
        `must be a positive ${integer ? 'whole number' : 'number'}, not ${describe(value)}`,
      )
    return value
  }

  array(value: unknown, path: string): unknown[] | undefined {
    if (Array.isArray(value)) return value
    return this.fail(path, `must be a list, not ${describe(value)}`)
  }

  /** A count n (→ `<stem>-1` … `<stem>-n`) or a list of names. */
  namesOrCount(value: unknown, path: string, stem: string, fallback: number): string[] {
    const raw = value === undefined ? fallback : value
    if (typeof raw === 'number') {
      if (!Number.isInteger(raw) || raw < 0 || raw > 100) {
        this.fail(path, `must be a count from 0 to 100 or a list of names, not ${describe(raw)}`)
        return []
      }
      return Array.from({ length: raw }, (_, i) => `${stem}-${i + 1}`)
    }
    const list = this.array(raw, path)
    if (list === undefined) return []
    return list.flatMap((item, i) => this.name(item, `${path}[${i}]`) ?? [])
  }
}

/** Validates a parsed scenario document; throws ScenarioError naming `source` (e.g. the file). */
export function validateScenario(input: unknown, source = 'scenario'): Scenario {
  const check = new Checker()
  const top = check.object(input, '', [
    'name',
    'description',
    'internet',
    'relays',
    'server',
    'honeypot',
    'bootstrap',
    'bootstrapImpl',
    'homes',
    'internet6',
    'rounds',
    'durationSeconds',
    'expect',
  ])
  if (top === undefined) throw new ScenarioError(source, check.issues)

  const name = top.name === undefined ? check.fail('name', 'is required') : check.name(top.name, 'name')
  const description = check.optionalString(top.description, 'description')
  const relays = check.namesOrCount(top.relays, 'relays', 'relay', 1)
  const server = check.boolean(top.server, 'server', true)
  const honeypot = check.boolean(top.honeypot, 'honeypot', server)
  if (honeypot && server === false)
    check.fail('honeypot', 'runs inside the server (punchr up): needs server: true')
  const bootstrap = check.namesOrCount(top.bootstrap, 'bootstrap', 'bootstrap', 0)
  const bootstrapImpl =
    top.bootstrapImpl === undefined
      ? 'js'
      : (check.oneOf(top.bootstrapImpl, 'bootstrapImpl', BOOTSTRAP_IMPLS) ?? 'js')
  const homes = checkHomes(check, top.homes)
  const rounds = check.positive(top.rounds, 'rounds', true)
  const durationSeconds = check.positive(top.durationSeconds, 'durationSeconds', false)
  if (rounds !== undefined && durationSeconds !== undefined)
    check.fail('durationSeconds', 'give either rounds or durationSeconds, not both')

  const publicCount =
    relays.length +
    bootstrap.length +
    (server ? 1 : 0) +
    // A home with a NAT puts its router on the internet, one without puts each of its hosts there.
    // An IPv6-only router takes a number too: a node's IPv6 address on the internet is its IPv4 one's.
    homes.reduce((n, h) => n + (h.nat === 'none' ? h.hosts.length : 1), 0)
  const internet = checkInternet(check, top.internet ?? DEFAULT_INTERNET, publicCount)
  const internet6 = homes.some((h) => h.nat6 !== undefined)
    ? checkInternet6(check, top.internet6 ?? DEFAULT_INTERNET6)
    : top.internet6 === undefined
      ? undefined
      : check.fail('internet6', 'no home has IPv6 (nat6): leave internet6 out')

  checkUniqueNodeNames(check, { relays, server, bootstrap, homes })
  checkGoRemotesWithIpv6(check, homes, bootstrap.length, bootstrapImpl)
  checkSharedIpVersions(check, homes)
  const nodeCount = publicCount + homes.reduce((n, h) => n + (h.nat === 'none' ? 0 : h.hosts.length), 0)
  if (nodeCount > MAX_NODES) check.fail('homes', `${nodeCount} nodes are more than the lab's ${MAX_NODES}`)
  const expect = checkExpectations(check, top.expect, homes)

  if (check.issues.length > 0 || name === undefined || internet === undefined)
    throw new ScenarioError(source, check.issues)
  return {
    name,
    description,
    internet,
    internet6,
    relays,
    server,
    honeypot,
    bootstrap,
    bootstrapImpl,
    homes,
    rounds: rounds === undefined && durationSeconds === undefined ? 1 : rounds,
    durationSeconds,
    expect,
  }
}

function checkInternet(check: Checker, value: unknown, addressesNeeded: number): string | undefined {
  const path = 'internet'
  if (typeof value !== 'string') return check.fail(path, `must be a CIDR such as ${DEFAULT_INTERNET}`)
  const cidr = parseCidr(value)
  if (cidr === undefined)
    return check.fail(path, `${JSON.stringify(value)} is not an IPv4 CIDR such as ${DEFAULT_INTERNET}`)
  if (cidr.hostBitsSet)
    return check.fail(path, `${value} has host bits set; did you mean ${formatCidr(cidr)}?`)
  const clash = nonPublicOverlap(cidr)
  if (clash !== undefined)
    return check.fail(
      path,
      `${value} overlaps ${clash.cidr} (${clash.what}), which libp2p treats as private: DCUtR would silently ` +
        `drop those addresses. Use a public range such as ${DEFAULT_INTERNET}; it exists only inside the ` +
        "lab's namespaces and no packet ever leaves them",
    )
  if (cidr.bits < 8 || cidr.bits > 30)
    return check.fail(path, `the prefix length must be from 8 to 30, not /${cidr.bits}`)
  const usable = size(cidr) - 2
  if (addressesNeeded > usable)
    return check.fail(path, `${value} has ${usable} usable addresses, the scenario needs ${addressesNeeded}`)
  return formatCidr(cidr)
}

/**
 * A go remote keeps one connection per peer, so it learns its public address on each path the
 * relay does not show it (IPv4 TCP with QUIC on, IPv6 TCP, IPv6 QUIC) from a js bootstrap peer
 * reached on that path (test/interop/go-remote): one bootstrap peer per such path.
 */
function checkGoRemotesWithIpv6(
  check: Checker,
  homes: HomeNetwork[],
  bootstrapCount: number,
  bootstrapImpl: BootstrapImpl,
): void {
  for (const [i, home] of homes.entries()) {
    if (home.nat6 === undefined) continue
    for (const [j, host] of home.hosts.entries()) {
      if (host.role !== 'remote' || host.impl !== 'go') continue
      const needed = host.transports.includes('quic') ? 3 : 1
      if (bootstrapImpl !== 'js' || bootstrapCount < needed)
        check.fail(
          `homes[${i}].hosts[${j}]`,
          `a go remote with IPv6 (${host.transports.join('+')}) needs ${needed} js bootstrap peers ('bootstrap': ${needed}): ` +
            'go-libp2p keeps one connection per peer, and each tells it its public address on one path',
        )
    }
  }
}

/**
 * Every client shares an IP version with every remote. The server hands any remote to any
 * client (what it knows of a remote's versions is only what it has seen), and such a pair
 * meets through the relay, which bridges the versions, but can never punch: a FAILED that
 * says nothing about NATs.
 */
function checkSharedIpVersions(check: Checker, homes: HomeNetwork[]): void {
  const hostsOf = (role: HostRole) =>
    homes.flatMap((home, i) =>
      home.hosts.flatMap((host, j) =>
        host.role === role ? [{ path: `homes[${i}].hosts[${j}]`, name: host.name, home }] : [],
      ),
    )
  for (const client of hostsOf('client'))
    for (const remote of hostsOf('remote')) {
      const ipv4 = client.home.nat !== undefined && remote.home.nat !== undefined
      const ipv6 = client.home.nat6 !== undefined && remote.home.nat6 !== undefined
      if (!ipv4 && !ipv6)
        check.fail(
          client.path,
          `client '${client.name}' and remote '${remote.name}' share no IP version (IPv6-only and IPv4-only homes), ` +
            'so they can never punch: give one of their homes the other version',
        )
    }
}

function checkInternet6(check: Checker, value: unknown): string | undefined {
  const path = 'internet6'
  if (typeof value !== 'string') return check.fail(path, `must be an IPv6 /64 such as ${DEFAULT_INTERNET6}`)
  const match = /^([0-9a-fA-F:]+)\/64$/.exec(value.trim())
  const base = match === null ? null : parseIPv6(match[1]!)
  if (base === null)
    return check.fail(path, `${JSON.stringify(value)} is not an IPv6 /64 such as ${DEFAULT_INTERNET6}`)
  if ((base & ((1n << 64n) - 1n)) !== 0n) return check.fail(path, `${value} has host bits set`)
  if (!isPublicIp(formatIPv6(base + 1n)) || !isPublicIp(formatIPv6(base + (255n << 64n) + 1n)))
    return check.fail(
      path,
      `${value} is not public for libp2p (or its homes' /64s after it are not): DCUtR would drop such addresses. Use ${DEFAULT_INTERNET6}`,
    )
  return `${formatIPv6(base)}/64`
}

function checkHomes(check: Checker, value: unknown): HomeNetwork[] {
  if (value === undefined) {
    check.fail('homes', 'is required: a list of home networks ({ name, nat, hosts })')
    return []
  }
  const list = check.array(value, 'homes')
  if (list === undefined) return []
  if (list.length === 0) check.fail('homes', 'needs at least one home network')
  if (list.length > MAX_HOMES) check.fail('homes', `at most ${MAX_HOMES} home networks, not ${list.length}`)
  return list.flatMap((item, i) => checkHome(check, item, `homes[${i}]`) ?? [])
}

function checkHome(check: Checker, value: unknown, path: string): HomeNetwork | undefined {
  const home = check.object(value, path, ['name', 'nat', 'nat6', 'hosts', 'delayMs', 'upnp'])
  if (home === undefined) return undefined
  const name =
    home.name === undefined
      ? check.fail(`${path}.name`, 'is required')
      : check.name(home.name, `${path}.name`)
  const nat =
    home.nat === undefined && home.nat6 !== undefined ? undefined : checkNat(check, home.nat, `${path}.nat`)
  const hostList =
    home.hosts === undefined
      ? check.fail(`${path}.hosts`, 'is required')
      : check.array(home.hosts, `${path}.hosts`)
  if (hostList !== undefined && hostList.length === 0) check.fail(`${path}.hosts`, 'needs at least one host')
  if (hostList !== undefined && hostList.length > MAX_HOSTS_PER_HOME)
    check.fail(
      `${path}.hosts`,
      `at most ${MAX_HOSTS_PER_HOME} hosts per home network, not ${hostList.length}`,
    )
  const hosts = (hostList ?? []).flatMap((h, i) => checkHost(check, h, `${path}.hosts[${i}]`) ?? [])
  const delayMs = checkDelay(check, home.delayMs, `${path}.delayMs`, nat)
  const nat6 = home.nat6 === undefined ? undefined : check.oneOf(home.nat6, `${path}.nat6`, NAT6_TYPES)
  const upnp = check.boolean(home.upnp, `${path}.upnp`, false)
  if (upnp && (nat === undefined || nat === 'none'))
    check.fail(`${path}.upnp`, 'UPnP runs on an IPv4 router: give the home a nat profile other than none')
  if (nat === 'none' && nat6 !== undefined && nat6 !== 'none')
    check.fail(
      `${path}.nat6`,
      "a home without a router (nat: none) has public IPv6 addresses too: nat6 'none' or leave it out",
    )
  if (nat === undefined && nat6 !== undefined) checkIpv6OnlyHome(check, path, nat6, hosts)
  if (hosts.some((h) => h.behaviour === 'slow-relay')) {
    if (nat === 'none')
      check.fail(`${path}.nat`, "a 'slow-relay' remote needs a home with a router to delay its relay traffic")
    if (delayMs > 0)
      check.fail(
        `${path}.delayMs`,
        "a 'slow-relay' remote's router delays its relay traffic only; leave delayMs out",
      )
    if (hosts.length > 1)
      check.fail(
        `${path}.hosts`,
        "a 'slow-relay' remote's router delays the whole home's relay traffic: give it a home of its own",
      )
  }
  if (name === undefined || (nat === undefined && nat6 === undefined)) return undefined
  return {
    name,
    ...(nat === undefined ? {} : { nat }),
    hosts,
    delayMs,
    upnp,
    ...(nat6 === undefined ? {} : { nat6 }),
  }
}

/**
 * An IPv6-only home (`nat` left out): a router with IPv6 alone, hosts without IPv4. What runs
 * there must manage without IPv4: our client and the js remote do. The go and rust remotes
 * reserve their relay slot over IPv4 and the original Go client needs IPv4; the misbehaving
 * remotes are measured on IPv4.
 */
function checkIpv6OnlyHome(check: Checker, path: string, nat6: Nat6Type, hosts: HostSpec[]): void {
  if (nat6 === 'none')
    check.fail(`${path}.nat6`, 'an IPv6-only home needs a router: nat6 firewall, nat66 or nat66-symmetric')
  for (const [j, host] of hosts.entries()) {
    const where = `${path}.hosts[${j}]`
    if (host.impl !== 'js')
      check.fail(
        `${where}.impl`,
        `a ${host.impl} ${host.role} needs IPv4; in an IPv6-only home (no nat) run our client or a js remote`,
      )
    if (host.behaviour !== undefined)
      check.fail(`${where}.behaviour`, 'misbehaving remotes are measured on IPv4: give this home a nat')
  }
}

function checkDelay(check: Checker, value: unknown, path: string, nat: NatType | undefined): number {
  if (value === undefined) return 0
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_DELAY_MS) {
    check.fail(
      path,
      `must be a whole number of milliseconds from 0 to ${MAX_DELAY_MS}, not ${describe(value)}`,
    )
    return 0
  }
  if (value > 0 && nat === 'none')
    check.fail(
      path,
      'a home without NAT has no router to delay its packets; give its hosts a home with a router',
    )
  return value
}

function checkNat(check: Checker, value: unknown, path: string): NatType | undefined {
  if (value === undefined)
    return check.fail(path, `is required: one of ${natChoices()} (left out with nat6, the home is IPv6-only)`)
  if (typeof value === 'string') {
    if ((NAT_TYPES as readonly string[]).includes(value)) return value as NatType
    const alias = NAT_ALIASES[value]
    if (alias !== undefined) return alias
    const why = UNSUPPORTED_NATS[value]
    if (why !== undefined) return check.fail(path, `'${value}' is not available: ${why}`)
  }
  return check.fail(path, `must be one of ${natChoices()}, not ${describe(value)}`)
}

function natChoices(): string {
  return [...NAT_TYPES, ...Object.keys(NAT_ALIASES).map((a) => `${a} (= ${NAT_ALIASES[a]})`)].join(', ')
}

function checkHost(check: Checker, value: unknown, path: string): HostSpec | undefined {
  const host = check.object(value, path, ['name', 'role', 'impl', 'transports', 'behaviour'])
  if (host === undefined) return undefined
  const name =
    host.name === undefined
      ? check.fail(`${path}.name`, 'is required')
      : check.name(host.name, `${path}.name`)
  const role =
    host.role === undefined
      ? check.fail(`${path}.role`, `is required: one of ${HOST_ROLES.join(', ')}`)
      : check.oneOf(host.role, `${path}.role`, HOST_ROLES)
  const impl = host.impl === undefined ? 'js' : check.oneOf(host.impl, `${path}.impl`, HOST_IMPLS)
  const transports =
    role === 'client' && impl === 'go'
      ? checkLegacyClientTransports(check, host.transports, `${path}.transports`)
      : checkTransports(check, host.transports, `${path}.transports`)
  if (role === 'client' && impl === 'rust')
    check.fail(
      `${path}.impl`,
      "the lab has no Rust punchr client: a client is 'js' (punchr client) or 'go' (the original Go client's stack)",
    )
  const behaviour = checkBehaviour(check, host.behaviour, `${path}.behaviour`, role, impl)
  if (name === undefined || role === undefined || impl === undefined || transports === undefined)
    return undefined
  return { name, role, impl, transports, ...(behaviour === undefined ? {} : { behaviour }) }
}

function checkBehaviour(
  check: Checker,
  value: unknown,
  path: string,
  role: HostRole | undefined,
  impl: HostImpl | undefined,
): RemoteBehaviour | undefined {
  if (value === undefined) return undefined
  const behaviour = check.oneOf(value, path, REMOTE_BEHAVIOURS)
  if (behaviour === undefined) return undefined
  if (role !== 'remote') return check.fail(path, 'only a remote misbehaves: a client follows the rules')
  if (impl !== 'js')
    return check.fail(
      path,
      "misbehaving remotes are the lab's js remote (src/lab/peers/remote.ts): impl 'js'",
    )
  return behaviour
}

/**
 * The original Go client's go-libp2p 0.23 speaks QUIC draft-29 only, which no remote of the
 * lab (nor of today's network) listens on: it measures TCP.
 */
function checkLegacyClientTransports(check: Checker, value: unknown, path: string): Transport[] | undefined {
  if (value === undefined) return ['tcp']
  const transports = checkTransports(check, value, path)
  if (transports?.includes('quic'))
    return check.fail(
      path,
      "a 'go' client (go-libp2p 0.23) speaks QUIC draft-29 only, which no remote listens on: it measures tcp",
    )
  return transports
}

function checkTransports(check: Checker, value: unknown, path: string): Transport[] | undefined {
  if (value === undefined) return [...TRANSPORTS]
  const list = check.array(value, path)
  if (list === undefined) return undefined
  if (list.length === 0) return check.fail(path, `needs at least one of ${TRANSPORTS.join(', ')}`)
  const out: Transport[] = []
  for (const [i, item] of list.entries()) {
    const t = check.oneOf(item, `${path}[${i}]`, TRANSPORTS)
    if (t === undefined) continue
    if (out.includes(t)) check.fail(`${path}[${i}]`, `'${t}' is listed twice`)
    else out.push(t)
  }
  return out
}

/** Every node (relay, public node, router, host) is a namespace named after it, so names must not clash. */
function checkUniqueNodeNames(
  check: Checker,
  s: Pick<Scenario, 'relays' | 'server' | 'bootstrap' | 'homes'>,
): void {
  const seen = new Map<string, string>()
  const add = (name: string, path: string) => {
    const first = seen.get(name)
    if (first === undefined) seen.set(name, path)
    else check.fail(path, `'${name}' is already the name of ${first}; node names must be unique`)
  }
  for (const [i, n] of s.relays.entries()) add(n, `relays[${i}]`)
  if (s.server) add('server', 'server')
  for (const [i, n] of s.bootstrap.entries()) add(n, `bootstrap[${i}]`)
  const homeNames = new Set<string>()
  for (const [i, home] of s.homes.entries()) {
    if (homeNames.has(home.name))
      check.fail(`homes[${i}].name`, `home network '${home.name}' is defined twice`)
    homeNames.add(home.name)
    if (home.nat !== 'none')
      add(routerName(home.name), `homes[${i}].name (its router '${routerName(home.name)}')`)
    for (const [j, host] of home.hosts.entries()) add(host.name, `homes[${i}].hosts[${j}].name`)
  }
}

/** The node name of a home network's router. */
export function routerName(home: string): string {
  return `${home}-router`
}

function checkExpectations(check: Checker, value: unknown, homes: HomeNetwork[]): Expectation[] {
  if (value === undefined) return []
  const list = check.array(value, 'expect')
  if (list === undefined) return []
  return list.flatMap((item, i) => {
    const path = `expect[${i}]`
    const e = check.object(item, path, ['client', 'remote', 'transport', 'outcome', 'reason'])
    if (e === undefined) return []
    const client = checkSelector(check, e.client, `${path}.client`, 'client', homes)
    const remote = checkSelector(check, e.remote, `${path}.remote`, 'remote', homes)
    const transport =
      e.transport === undefined ? undefined : check.oneOf(e.transport, `${path}.transport`, TRANSPORTS)
    const outcome =
      e.outcome === undefined
        ? check.fail(`${path}.outcome`, `is required: one of ${LAB_OUTCOMES.join(', ')}`)
        : check.oneOf(e.outcome, `${path}.outcome`, LAB_OUTCOMES)
    const reason = check.optionalString(e.reason, `${path}.reason`)
    if (outcome === undefined) return []
    return [{ client: client ?? undefined, remote: remote ?? undefined, transport, outcome, reason }]
  })
}

/** A host of the given role, or a home network that has one; undefined = any; null = invalid. */
function checkSelector(
  check: Checker,
  value: unknown,
  path: string,
  role: HostRole,
  homes: HomeNetwork[],
): string | undefined | null {
  if (value === undefined) return undefined
  if (typeof value !== 'string')
    return check.fail(path, `must be a host or home network name, not ${describe(value)}`) ?? null
  const home = homes.find((h) => h.name === value)
  if (home !== undefined) {
    if (home.hosts.some((h) => h.role === role)) return value
    return check.fail(path, `home network '${value}' has no ${role} host`) ?? null
  }
  const host = homes.flatMap((h) => h.hosts).find((h) => h.name === value)
  if (host === undefined)
    return check.fail(path, `'${value}' is neither a host nor a home network of this scenario`) ?? null
  if (host.role !== role) return check.fail(path, `host '${value}' is a ${host.role}, not a ${role}`) ?? null
  return value
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

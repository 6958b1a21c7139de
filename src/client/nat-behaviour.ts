// The NAT behaviour of a host, per path (IP family and transport), from how other peers see it:
// identify tells each peer we connect to the address and port our packets came from. Every
// dial of a path leaves from one local port (TCP from the fixed dial port, QUIC from its
// listening socket), so the observations of one path differ only by what the NAT did with them:
// the classification of RFC 5780 §4.3 without a STUN server (docs/OUTCOMES.md, "Client NAT
// behaviour").
//
// Only peers the user trusts are observers (the bootstrap peers): a remote could tell us any
// address, and one lie would turn a cone NAT into a symmetric one. Only connections open at the
// same time are compared: a mapping that expired and came back on another port says nothing
// about endpoint dependence.
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayAddr } from '../lib/multiaddr.js'
import type { Path } from './host.js'

/**
 * RFC 4787 §4.1 mapping behaviours, plus what two kinds of too few observers leave open:
 * `endpoint-dependent` = the mapping changed with the destination's address, but no two
 * observers shared an address, so whether it depends on the port too is unknown; `unknown` =
 * fewer than two observer addresses.
 */
export type MappingBehaviour =
  | 'endpoint-independent'
  | 'address-dependent'
  | 'address-and-port-dependent'
  | 'endpoint-dependent'
  | 'unknown'

export const MAPPING_BEHAVIOURS: readonly MappingBehaviour[] = [
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
  'endpoint-dependent',
  'unknown',
]

export interface Endpoint {
  ip: string
  port: number
}

/** What one observer saw: our packets to `observer` came from `observed`. */
export interface MappingObservation {
  observer: Endpoint
  observed: Endpoint
}

export interface NatBehaviour {
  path: Path
  mapping: MappingBehaviour
  /** Whether every observer saw our local port; undefined without observations or local port. */
  portPreserved: boolean | undefined
  /** Observers (distinct address and port) the classification used. */
  observations: number
  /** Their distinct IP addresses. */
  observerIps: number
}

/**
 * Classifies one path's observations (one per observer endpoint, all from one local port).
 * Endpoint-independent when every observer saw the same address and port. Otherwise two
 * observers at one IP but different ports tell address-dependent (they saw the same) from
 * address-and-port-dependent (they did not), as RFC 5780's tests II and III do.
 */
export function classifyMapping(
  observations: readonly MappingObservation[],
  localPort: number | undefined,
): Omit<NatBehaviour, 'path'> {
  const observerIps = new Set(observations.map((o) => o.observer.ip)).size
  const portPreserved =
    observations.length === 0 || localPort === undefined
      ? undefined
      : observations.every((o) => o.observed.port === localPort)
  const facts = { portPreserved, observations: observations.length, observerIps }
  if (observerIps < 2) return { mapping: 'unknown', ...facts }
  const seen = (o: MappingObservation) => `${o.observed.ip}|${o.observed.port}`
  if (new Set(observations.map(seen)).size === 1) return { mapping: 'endpoint-independent', ...facts }
  const byObserverIp = new Map<string, MappingObservation[]>()
  for (const o of observations)
    byObserverIp.set(o.observer.ip, [...(byObserverIp.get(o.observer.ip) ?? []), o])
  const samePairs = [...byObserverIp.values()].filter(
    (group) => new Set(group.map((o) => o.observer.port)).size > 1,
  )
  if (samePairs.length === 0) return { mapping: 'endpoint-dependent', ...facts }
  const portMatters = samePairs.some((group) => new Set(group.map(seen)).size > 1)
  return { mapping: portMatters ? 'address-and-port-dependent' : 'address-dependent', ...facts }
}

/** How many connections' observations are kept; a host has a handful of bootstrap connections. */
const MAX_TRACKED_CONNECTIONS = 64

interface Tracked {
  peer: string
  path: Path
  observation: MappingObservation
}

/**
 * The observations of a host's open outbound direct connections, by connection: identify's
 * observed address on each, dropped when the connection closes. Classifies by path with the
 * observers the caller trusts.
 */
export class MappingObservations {
  private readonly byConnection = new Map<string, Tracked>()

  /**
   * @param trusted the observers' peer IDs (a live set: bootstrap peers are added as they are
   *   reached); when more than `max` connections are tracked, the oldest untrusted goes first,
   *   so that the relays of a long run's rounds never push the bootstrap peers out.
   */
  constructor(
    private readonly trusted: ReadonlySet<string> = new Set(),
    private readonly max = MAX_TRACKED_CONNECTIONS,
  ) {}

  /** identify's `observedAddr` over `connection`; ignored unless outbound, direct and of one path. */
  observe(
    observedAddr: Multiaddr | undefined,
    connection: Pick<Connection, 'id' | 'direction' | 'remoteAddr' | 'remotePeer'>,
  ): void {
    if (observedAddr === undefined || connection.direction !== 'outbound') return
    if (isRelayAddr(connection.remoteAddr) || isRelayAddr(observedAddr)) return
    const observer = endpointOf(connection.remoteAddr)
    const observed = endpointOf(observedAddr)
    // Both ends of one path: a QUIC connection told over a TCP-looking address (or across
    // families) is a broken observation, not a NAT behaviour.
    if (observer === undefined || observed === undefined || observer.path !== observed.path) return
    this.byConnection.delete(connection.id)
    this.byConnection.set(connection.id, {
      peer: connection.remotePeer.toString(),
      path: observer.path,
      observation: { observer: observer.endpoint, observed: observed.endpoint },
    })
    while (this.byConnection.size > this.max) {
      const untrusted = [...this.byConnection].find(([, t]) => !this.trusted.has(t.peer))?.[0]
      this.byConnection.delete(untrusted ?? this.byConnection.keys().next().value!)
    }
  }

  /** The connection closed: its mapping may go, so its observation no longer counts. */
  forget(connectionId: string): void {
    this.byConnection.delete(connectionId)
  }

  /**
   * The behaviour on each of `paths`, from the trusted observers' observations; per observer
   * endpoint the newest observation counts.
   */
  classify(paths: readonly Path[], localPort: (path: Path) => number | undefined): NatBehaviour[] {
    const trusted = [...this.byConnection.values()].filter((t) => this.trusted.has(t.peer))
    return paths.map((path) => {
      const latest = new Map<string, MappingObservation>()
      for (const t of trusted) {
        if (t.path !== path) continue
        const key = `${t.observation.observer.ip}|${t.observation.observer.port}`
        latest.delete(key)
        latest.set(key, t.observation)
      }
      return { path, ...classifyMapping([...latest.values()], localPort(path)) }
    })
  }
}

/** The path and IP/port of `/ip4|ip6/<ip>/tcp|udp/<port>…`; undefined for anything else. */
export function endpointOf(addr: Multiaddr): { path: Path; endpoint: Endpoint } | undefined {
  const [ip, port, ...rest] = addr.getComponents()
  if ((ip?.name !== 'ip4' && ip?.name !== 'ip6') || ip.value === undefined) return undefined
  if ((port?.name !== 'tcp' && port?.name !== 'udp') || port.value === undefined) return undefined
  const quic = port.name === 'udp' && rest[0]?.name === 'quic-v1'
  if (port.name === 'udp' && !quic) return undefined
  const number = Number(port.value)
  if (!Number.isInteger(number) || number < 1 || number > 65535) return undefined
  return { path: `${ip.name}/${quic ? 'quic' : 'tcp'}`, endpoint: { ip: ip.value, port: number } }
}

// Which of the remote's CONNECT addresses a host punches: the tracer's `dialAddrs` hook. It
// applies the round's protocol filter from GetAddrInfo (docs/PROTOCOL.md, "The round": "filter the remote's punch
// addrs by it") and remembers when the filter could not be applied, for the report.
//
// A filter that matches none of the remote's addresses (an ip6+tcp filter for an IPv4-only
// remote) is not applied: the round punches the remote's other addresses and reports an
// empty filter with a note in `error`. Refusing instead would end the round FAILED, a failure
// that says nothing about hole punching and would bias the success rate.
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayAddr, matchesProtocolFilter } from '../lib/multiaddr.js'
import { isQuicAddress } from '../quic/multiaddr.js'
import {
  capPunchTargets,
  endpointOf,
  infrastructureKeys,
  type RefusalReason,
  screenPunchTargets,
} from './punch-targets.js'
import { withoutPeerId } from './tracer/index.js'

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/** The transports a measuring host can punch (and reach relays) with. */
export type PunchTransport = 'tcp' | 'quic'

/**
 * True for `/ip4|ip6|dns|dns4|dns6/…/tcp/…` with at most a trailing `/p2p/…`: what the TCP
 * transport dials (the same shape as @libp2p/tcp's dial filter).
 */
export function isTcpDialable(addr: Multiaddr): boolean {
  const names = addr.getComponents().map((c) => c.name)
  if (names.at(-1) === 'p2p') names.pop()
  return names.length === 2 && HOST_PROTOCOLS.has(names[0]!) && names[1] === 'tcp'
}

/** True when one of `transports` dials `addr` (QUIC: `/ip4|ip6/…/udp/…/quic-v1`). */
export function isDialableWith(addr: Multiaddr, transports: ReadonlySet<PunchTransport>): boolean {
  return (transports.has('tcp') && isTcpDialable(addr)) || (transports.has('quic') && isQuicAddress(addr))
}

/** What the filter did during a round. */
export interface FilterResult {
  /** The filter that was applied (multicodec codes), empty when none was. */
  protocols: number[]
  /**
   * Why the served filter was not applied, why nothing could be dialled, or which of the
   * remote's addresses were refused as punch targets for a reason that marks the remote as odd.
   */
  note?: string
  /** The remote's CONNECT addresses not dialled, by reason (each address once). */
  refused: Partial<Record<RefusalReason, number>>
}

/** Refusals worth a note in the report: an honest remote does not cause them. */
const NOTED_REFUSALS: ReadonlySet<RefusalReason> = new Set([
  'infrastructure',
  'port',
  'too-many',
  'not-unicast',
])

interface RoundFilter {
  remote: string
  codes: number[]
  /** The relays the round was served (infrastructureKeys): never punch targets. */
  relays: Set<string>
  /** Refused CONNECT addresses (by address, so repeated CONNECTs count once). */
  refused: Map<string, RefusalReason>
  /** Set when some CONNECT's addresses did not match the filter at all. */
  unmatched?: Multiaddr[]
  /** Set when some CONNECT carried no address we can dial at all. */
  undialable?: Multiaddr[]
}

export interface PunchAddrFilterInit {
  /** What the host dials; the remote's other addresses are not punched. @default tcp */
  transports?: ReadonlySet<PunchTransport>
  /** Punch private and loopback addresses too (testbeds). @default false */
  allowPrivate?: boolean
  /** The server's and the bootstrap peers' endpoints, which are never punch targets. */
  infrastructure?: Iterable<{ ip: string; port?: number }>
}

export class PunchAddrFilter {
  private current: RoundFilter | undefined
  private readonly transports: ReadonlySet<PunchTransport>
  private readonly allowPrivate: boolean
  private readonly infrastructure: ReadonlySet<string>

  constructor(init: PunchAddrFilterInit = {}) {
    this.transports = init.transports ?? new Set(['tcp'])
    this.allowPrivate = init.allowPrivate ?? false
    this.infrastructure = infrastructureKeys(init.infrastructure ?? [])
  }

  /** The filter for the round with `remote` (empty = none), served with `relayAddrs`. */
  begin(remote: PeerId, codes: readonly number[], relayAddrs: readonly Multiaddr[] = []): void {
    const relays = infrastructureKeys(relayAddrs.flatMap((addr) => endpointOf(addr) ?? []))
    this.current = { remote: remote.toString(), codes: [...codes], relays, refused: new Map() }
  }

  /** Ends the round's filter and tells what it did. */
  end(): FilterResult {
    const round = this.current
    this.current = undefined
    if (round === undefined) return { protocols: [], refused: {} }
    const refused: FilterResult['refused'] = {}
    for (const reason of round.refused.values()) refused[reason] = (refused[reason] ?? 0) + 1
    const notes: string[] = []
    const odd = [...round.refused].filter(([, reason]) => NOTED_REFUSALS.has(reason))
    if (odd.length > 0)
      notes.push(`refused to punch ${odd.map(([addr, reason]) => `${addr} (${reason})`).join(', ')}`)
    let protocols = round.codes
    if (round.undialable !== undefined) {
      notes.unshift(
        `the remote offered no address this client can punch (${[...this.transports].join(', ')}): ${list(round.undialable)}`,
      )
    } else if (round.unmatched !== undefined) {
      protocols = []
      notes.unshift(
        `protocol filter [${round.codes.join(',')}] matched none of the remote's addresses (${list(round.unmatched)}); punched them unfiltered`,
      )
    }
    return { protocols, refused, ...(notes.length === 0 ? {} : { note: notes.join('; ') }) }
  }

  /**
   * The tracer's `dialAddrs`: not relayed, dialable by the host's transports, de-duplicated,
   * acceptable punch targets (punch-targets.ts), then the filter if it matches any, then at
   * most MAX_PUNCH_ADDRS of them.
   */
  readonly select = (addrs: Multiaddr[], peer: PeerId): Multiaddr[] => {
    const seen = new Set<string>()
    const dialable = addrs.filter((addr) => {
      const key = withoutPeerId(addr).toString()
      if (seen.has(key) || isRelayAddr(addr) || !isDialableWith(addr, this.transports)) return false
      seen.add(key)
      return true
    })
    const round = this.current?.remote === peer.toString() ? this.current : undefined
    const infrastructure = new Set([...this.infrastructure, ...(round?.relays ?? [])])
    const screened = screenPunchTargets(dialable, { allowPrivate: this.allowPrivate, infrastructure })
    const capped = capPunchTargets(this.preferred(round, screened.accepted))
    for (const { addr, reason } of [...screened.refused, ...capped.refused])
      round?.refused.set(withoutPeerId(addr).toString(), reason)
    if (round !== undefined && capped.accepted.length === 0) round.undialable = addrs
    return capped.accepted
  }

  /** The addresses matching the round's filter first, or all of them when none does. */
  private preferred(round: RoundFilter | undefined, addrs: Multiaddr[]): Multiaddr[] {
    if (round === undefined || round.codes.length === 0 || addrs.length === 0) return addrs
    const filtered = addrs.filter((addr) => matchesProtocolFilter(addr, round.codes))
    if (filtered.length > 0) return filtered
    round.unmatched = addrs
    return addrs
  }

  /**
   * The tracer's `ownAddrs`: the addresses our CONNECT offers to `peer`. Under a filter that
   * matches some of them only those, so that the remote's dials, too, stay on the filter's
   * transport and IP version: the round then measures what the filter asked for. Unfiltered
   * (or when nothing matches) all of them.
   */
  readonly selectOwn = (addrs: Multiaddr[], peer: PeerId): Multiaddr[] => {
    const round = this.current
    if (round === undefined || round.remote !== peer.toString() || round.codes.length === 0) return addrs
    const filtered = addrs.filter((addr) => matchesProtocolFilter(addr, round.codes))
    return filtered.length > 0 ? filtered : addrs
  }
}

function list(addrs: readonly Multiaddr[]): string {
  return addrs.length === 0 ? 'none' : addrs.map(String).join(', ')
}

// Which of the remote's CONNECT addresses a host punches: the tracer's `dialAddrs` hook. It
// applies the round's protocol filter from GetAddrInfo (SPEC §3: "filter the remote's punch
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
  /** Why the served filter was not applied, or why nothing could be dialled. */
  note?: string
}

interface RoundFilter {
  remote: string
  codes: number[]
  /** Set when some CONNECT's addresses did not match the filter at all. */
  unmatched?: Multiaddr[]
  /** Set when some CONNECT carried no address we can dial at all. */
  undialable?: Multiaddr[]
}

export class PunchAddrFilter {
  private current: RoundFilter | undefined

  /** @param transports what the host dials; the remote's other addresses are not punched. */
  constructor(private readonly transports: ReadonlySet<PunchTransport> = new Set(['tcp'])) {}

  /** The filter for the round with `remote` (empty = none). */
  begin(remote: PeerId, codes: readonly number[]): void {
    this.current = { remote: remote.toString(), codes: [...codes] }
  }

  /** Ends the round's filter and tells what it did. */
  end(): FilterResult {
    const round = this.current
    this.current = undefined
    if (round === undefined) return { protocols: [] }
    if (round.undialable !== undefined) {
      return {
        protocols: round.codes,
        note: `the remote offered no address this client can punch (${[...this.transports].join(', ')}): ${list(round.undialable)}`,
      }
    }
    if (round.unmatched !== undefined) {
      return {
        protocols: [],
        note: `protocol filter [${round.codes.join(',')}] matched none of the remote's addresses (${list(round.unmatched)}); punched them unfiltered`,
      }
    }
    return { protocols: round.codes }
  }

  /**
   * The tracer's `dialAddrs`: not relayed, dialable by the host's transports, de-duplicated,
   * then the filter if it matches any.
   */
  readonly select = (addrs: Multiaddr[], peer: PeerId): Multiaddr[] => {
    const seen = new Set<string>()
    const dialable = addrs.filter((addr) => {
      const key = withoutPeerId(addr).toString()
      if (seen.has(key) || isRelayAddr(addr) || !isDialableWith(addr, this.transports)) return false
      seen.add(key)
      return true
    })
    const round = this.current
    if (round === undefined || round.remote !== peer.toString()) return dialable
    if (dialable.length === 0) {
      round.undialable = addrs
      return dialable
    }
    if (round.codes.length === 0) return dialable
    const filtered = dialable.filter((addr) => matchesProtocolFilter(addr, round.codes))
    if (filtered.length > 0) return filtered
    round.unmatched = dialable
    return dialable
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

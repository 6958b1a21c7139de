import { PROTOCOL_CODES } from '../lib/multiaddr.js'

const { IP4, IP6, TCP, QUIC_V1 } = PROTOCOL_CODES

export type Transport = 'tcp' | 'quic'

/**
 * The filters GetAddrInfo serves and their shares (SPEC §4): 15 % each of ip4+tcp,
 * ip4+quic, ip6+tcp, ip6+quic, 40 % none. Our clients get quic-v1 (461); old clients'
 * 460 is accepted in reports.
 */
export const FILTER_SHARES: readonly { codes: readonly number[]; share: number }[] = [
  { codes: [IP4, TCP], share: 0.15 },
  { codes: [IP4, QUIC_V1], share: 0.15 },
  { codes: [IP6, TCP], share: 0.15 },
  { codes: [IP6, QUIC_V1], share: 0.15 },
  { codes: [], share: 0.4 },
]

/**
 * What a client can measure, read from its agent version. punchr's own TypeScript client
 * announces its transports, e.g. `punchr/ts-client/0.1.0 transports=tcp`; any other agent
 * (the Go and Rust punchr clients) measures both TCP and QUIC.
 */
export function clientTransports(agentVersion: string | null | undefined): Set<Transport> {
  const match = /\btransports=([a-z0-9,-]+)/.exec(agentVersion ?? '')
  if (match === null) return new Set(['tcp', 'quic'])
  return new Set(match[1]!.split(',').filter((t): t is Transport => t === 'tcp' || t === 'quic'))
}

function filterTransport(codes: readonly number[]): Transport | undefined {
  if (codes.includes(TCP)) return 'tcp'
  if (codes.includes(QUIC_V1)) return 'quic'
  return undefined
}

/**
 * Draws a filter with the SPEC shares among those the client can execute; the shares of
 * filters it cannot execute are spread proportionally over the rest. `random` is in [0, 1).
 */
export function chooseProtocolFilter(
  transports: ReadonlySet<Transport>,
  random: number = Math.random(),
): number[] {
  const usable = FILTER_SHARES.filter((f) => {
    const t = filterTransport(f.codes)
    return t === undefined || transports.has(t)
  })
  const total = usable.reduce((sum, f) => sum + f.share, 0)
  // Compare against running totals (not a decremented threshold): subtraction would leave
  // rounding residue at the share boundaries, e.g. 0.6 - 4 × 0.15 < 0.
  const target = random * total
  let cumulative = 0
  for (const f of usable) {
    cumulative += f.share
    if (target < cumulative) return [...f.codes]
  }
  return [...usable.at(-1)!.codes]
}

// Defences of GetAddrInfo against address poisoning (docs/SECURITY.md): a remote chooses the
// relay addresses it advertises, and every client handed one opens a TCP or QUIC connection
// to the relay hop (the part before /p2p-circuit) before any Noise handshake can fail. So the
// server bounds how many addresses one answer carries, never lets two of them point at the
// same hop endpoint, and bounds how many addresses at one hop IP it hands out per minute
// across all clients and server processes. Which hops are public at all is decided in SQL (allocation.ts).

/**
 * Relay addresses in one GetAddrInfo answer, at most. An honest peer lists far fewer:
 * go-libp2p's autorelay (kubo) keeps reservations on 2 relays by default (`desiredRelays`),
 * and a public relay has at most 8 transport addresses (TCP, QUIC v1, WebTransport,
 * WebRTC-direct, each on IPv4 and IPv6): 16 circuit addresses. 32 leaves room for 4 relays
 * (`WithNumRelays(4)`); a poisoning peer could otherwise have ~100 dialled per round (the 8 KB
 * identify limit; go-libp2p caps its own list at 100 too).
 */
export const MAX_RELAY_ADDRS_PER_RESPONSE = 32

/**
 * Relay addresses whose hop is at one IP (one /64 for IPv6), handed out per minute across all
 * clients and all server processes on one database, at most: each is one connection attempt at that IP, so this
 * is the most a poisoner can aim at one victim however many identities it uses. 600 a minute
 * is 10 attempts a second, nothing to a victim; an honest relay reaches it only if its remotes
 * get 150 hand-outs a minute (4 addresses each at its IP), about the whole original campaign's
 * rate had its 6.25 M results come in a single month (≈ 145 a minute); NAT lab campaigns stay
 * far below it.
 */
export const MAX_RELAY_ADDRS_PER_HOP_PER_MINUTE = 600

/**
 * Candidates one allocation may pick and pass over because none of their relay addresses may
 * be handed out (private hops, hop budget spent). Each passed-over candidate moves to the back
 * of the rotation like a served one, so a crowd of poisoned candidates cannot pin the front of
 * the index; this bounds the work of one call while they are around.
 */
export const MAX_PICKS_PER_ALLOCATION = 8

/**
 * The hop budget counts hand-outs in buckets of this many seconds (relay_hop_handouts): "the
 * last minute" is the buckets that started within it, 50 to 60 s of hand-outs.
 */
export const HOP_BUDGET_BUCKET_SECONDS = 10

/**
 * The hop endpoint of a relay address: what comes before /p2p-circuit, without the relay's
 * /p2p/<id>. Two addresses with the same endpoint reach the same socket whatever relay peer
 * ID they name, so one answer needs only one of them (an honest relay has one ID per socket).
 */
export function relayHopEndpoint(maddr: string): string {
  const circuit = maddr.indexOf('/p2p-circuit')
  const hop = circuit === -1 ? maddr : maddr.slice(0, circuit)
  const relayId = hop.lastIndexOf('/p2p/')
  return relayId === -1 ? hop : hop.slice(0, relayId)
}

/**
 * The relay addresses one answer carries: the peer's own order, one address per hop endpoint
 * (the first), at most `max`.
 */
export function capRelayAddrs<T extends { maddr: string }>(
  addrs: readonly T[],
  max = MAX_RELAY_ADDRS_PER_RESPONSE,
): T[] {
  const endpoints = new Set<string>()
  const kept: T[] = []
  for (const addr of addrs) {
    if (kept.length >= max) break
    const endpoint = relayHopEndpoint(addr.maddr)
    if (endpoints.has(endpoint)) continue
    endpoints.add(endpoint)
    kept.push(addr)
  }
  return kept
}

/**
 * The NAT behaviours the lab can build from Linux netfilter, each with its RFC 4787 mapping
 * and filtering behaviour, the iptables rules of its router, and the hole-punch outcome a
 * correct DCUtR implementation gets against every other profile (the lab's ground truth).
 *
 * Why only three profiles: a Linux router's filtering comes from conntrack, which lets a packet
 * from the WAN in only when it is the reply of a connection a LAN host opened, i.e. from exactly
 * the address AND port that host sent to. Every masquerading profile therefore filters
 * address-and-port-dependently (RFC 4787 §5), and what remains to vary is the mapping:
 * port-preserving and endpoint-independent (MASQUERADE) or a fresh random port per destination
 * (MASQUERADE --random-fully). An address-dependent ("restricted cone") or endpoint-independent
 * ("full cone") filter needs inbound DNAT rules keyed by remote address and mapped port that
 * are created as packets leave; iptables cannot express that (nftables could, with dynamic
 * maps, but Debian's iptables package brings no `nft` and the rules would be ours, not Linux's
 * behaviour). So `port-restricted` is accepted as another name of `cone` — on Linux they are
 * the same thing — and `restricted` / `full-cone` are refused with this explanation.
 */

/** The NAT in front of a home network; `none` = the hosts sit on the internet themselves. */
export type NatType = 'none' | 'cone' | 'symmetric'
export const NAT_TYPES: readonly NatType[] = ['none', 'cone', 'symmetric']

/** Other names a scenario may use for a profile that behaves identically here. */
export const NAT_ALIASES: Readonly<Record<string, NatType>> = {
  'port-restricted': 'cone',
  'port-restricted-cone': 'cone',
}

/** Names a scenario may use for behaviours the lab cannot build, with the reason shown to the user. */
export const UNSUPPORTED_NATS: Readonly<Record<string, string>> = {
  restricted:
    'address-restricted cone (endpoint-independent mapping with address-dependent filtering) cannot be built ' +
    'with iptables: Linux conntrack admits inbound packets only from the exact address and port a host sent to. ' +
    "Use 'cone' (which is a port-restricted cone) or 'symmetric'; see docs/LAB.md",
  'full-cone':
    'full cone (endpoint-independent filtering) cannot be built with iptables: Linux conntrack admits inbound ' +
    "packets only from the exact address and port a host sent to. Use 'cone' or 'none'; see docs/LAB.md",
}

export type Transport = 'tcp' | 'quic'
export const TRANSPORTS: readonly Transport[] = ['tcp', 'quic']

/** RFC 4787 §4.1 (mapping) and §5 (filtering) behaviours. */
export type NatBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent'

/** What a correct DCUtR implementation achieves for a pair of NATs: a direct connection or not. */
export type ExpectedOutcome = 'SUCCESS' | 'FAILED'

export interface NatProfile {
  type: NatType
  summary: string
  /** How the external port is chosen for a new outbound flow; undefined without a NAT. */
  mapping: NatBehaviour | undefined
  /** Which unsolicited inbound packets reach the host; undefined without a NAT (all do). */
  filtering: NatBehaviour | undefined
  /** The external port equals the host's source port unless another flow already holds it. */
  portPreserving: boolean
  /** Extra flags of the MASQUERADE target; undefined for `none` (no router at all). */
  masqueradeFlags: string[] | undefined
}

export const NAT_PROFILES: Readonly<Record<NatType, NatProfile>> = {
  none: {
    type: 'none',
    summary: 'no NAT: the hosts have internet addresses of their own and accept every inbound packet',
    mapping: undefined,
    filtering: undefined,
    portPreserving: true,
    masqueradeFlags: undefined,
  },
  cone: {
    type: 'cone',
    summary:
      'MASQUERADE: port-preserving, endpoint-independent mapping; conntrack filtering ' +
      '(a "port-restricted cone", the common home router)',
    // Linux keeps the source port when the resulting tuple is unique, which it is for every new
    // destination: the same internal address:port gets the same external port towards anyone.
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
    portPreserving: true,
    masqueradeFlags: [],
  },
  symmetric: {
    type: 'symmetric',
    summary:
      'MASQUERADE --random-fully: a random external port for every new destination; conntrack filtering ' +
      '(a "symmetric" NAT, as in carrier-grade and some enterprise NATs)',
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portPreserving: false,
    masqueradeFlags: ['--random-fully'],
  },
}

/**
 * What a home's router does with IPv6. Home routers rarely translate IPv6: most give the LAN a
 * public prefix and filter statefully (`firewall`); NAT66 exists (some CPE, Docker, VPNs), with
 * the same MASQUERADE behaviours as IPv4 (`nat66`, `nat66-symmetric`); `none` routes without
 * filtering.
 */
export type Nat6Type = 'none' | 'firewall' | 'nat66' | 'nat66-symmetric'
export const NAT6_TYPES: readonly Nat6Type[] = ['none', 'firewall', 'nat66', 'nat66-symmetric']

export interface Nat6Profile {
  type: Nat6Type
  summary: string
  /** The LAN has public addresses (routed from the internet) rather than ULA ones behind NAT66. */
  publicLan: boolean
  /** Only replies come in (conntrack), as for the IPv4 profiles. */
  filtering: boolean
  /** Extra flags of the MASQUERADE target; undefined = no translation. */
  masqueradeFlags: string[] | undefined
  /**
   * The IPv4 profile that punches the same way (expectedOutcome): no translation and no
   * filter is `none`; stateful filtering of untranslated addresses maps every host to itself
   * and admits replies only, a port-preserving endpoint-independent "NAT" (`cone`); NAT66 is
   * MASQUERADE as for IPv4.
   */
  punchesLike: NatType
}

export const NAT6_PROFILES: Readonly<Record<Nat6Type, Nat6Profile>> = {
  none: {
    type: 'none',
    summary: 'routed public prefix, no filtering: the hosts accept every inbound packet',
    publicLan: true,
    filtering: false,
    masqueradeFlags: undefined,
    punchesLike: 'none',
  },
  firewall: {
    type: 'firewall',
    summary: 'routed public prefix, stateful firewall: only replies come in (what IPv6 home routers do)',
    publicLan: true,
    filtering: true,
    masqueradeFlags: undefined,
    punchesLike: 'cone',
  },
  nat66: {
    type: 'nat66',
    summary:
      'ULA prefix behind MASQUERADE: port-preserving, endpoint-independent mapping; conntrack filtering',
    publicLan: false,
    filtering: true,
    masqueradeFlags: [],
    punchesLike: 'cone',
  },
  'nat66-symmetric': {
    type: 'nat66-symmetric',
    summary:
      'ULA prefix behind MASQUERADE --random-fully: a random port per destination; conntrack filtering',
    publicLan: false,
    filtering: true,
    masqueradeFlags: ['--random-fully'],
    punchesLike: 'symmetric',
  },
}

/**
 * ip6tables-restore input for a router's IPv6, the IPv4 rules' counterpart: unsolicited packets
 * from the WAN are dropped, not answered (a RST would abort a simultaneous open), except ICMPv6,
 * which IPv6 needs (neighbour discovery, packet too big). `delayMs` as for IPv4.
 */
export function routerRules6(nat6: Nat6Type, wan: string, lan: string, delayMs = 0): string {
  const profile = NAT6_PROFILES[nat6]
  const forward = profile.filtering
    ? [
        ':FORWARD DROP [0:0]',
        `-A FORWARD -i ${lan} -o ${wan} -j ACCEPT`,
        `-A FORWARD -i ${wan} -o ${lan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
        `-A FORWARD -i ${lan} -o ${lan} -j ACCEPT`,
      ]
    : [':FORWARD ACCEPT [0:0]']
  return [
    ...(delayMs > 0 ? ['*mangle', `-A FORWARD -j NFQUEUE --queue-num ${DELAY_QUEUE}`, 'COMMIT'] : []),
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...forward,
    `-A INPUT -i ${wan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A INPUT -i ${wan} -p ipv6-icmp -j ACCEPT`,
    `-A INPUT -i ${wan} -j DROP`,
    'COMMIT',
    ...(profile.masqueradeFlags === undefined
      ? []
      : [
          '*nat',
          ':PREROUTING ACCEPT [0:0]',
          ':INPUT ACCEPT [0:0]',
          ':OUTPUT ACCEPT [0:0]',
          ':POSTROUTING ACCEPT [0:0]',
          ['-A POSTROUTING -o', wan, '-j MASQUERADE', ...profile.masqueradeFlags].join(' '),
          'COMMIT',
        ]),
    '',
  ].join('\n')
}

/**
 * iptables-restore input for a router namespace: source NAT of everything leaving `wan`, hosts
 * may go out, only replies come in (FORWARD), and the router itself drops unsolicited packets on
 * its WAN instead of answering them. That last part matters for TCP hole punching: a SYN that
 * arrives before the local host's own SYN has left would otherwise hit the router's stack and
 * be answered with a RST, which aborts the peer's simultaneous open; home routers drop it.
 * Undefined for `none`, which has no router.
 */
export function routerRules(nat: NatType, wan: string, lan: string, delayMs = 0): string | undefined {
  const flags = NAT_PROFILES[nat].masqueradeFlags
  if (flags === undefined) return undefined
  return [
    // A delayed router hands every packet it forwards to queue DELAY_QUEUE, where net-delay
    // (test/interop/net-delay) holds it for delayMs: the lab's latency (docs/LAB.md). Mangle's
    // FORWARD chain runs before filter's; the packet goes on to it (and to source NAT) once let go.
    ...(delayMs > 0 ? ['*mangle', `-A FORWARD -j NFQUEUE --queue-num ${DELAY_QUEUE}`, 'COMMIT'] : []),
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `-A INPUT -i ${wan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    // Answering ping keeps the WAN address debuggable, as most home routers do.
    `-A INPUT -i ${wan} -p icmp --icmp-type echo-request -j ACCEPT`,
    `-A INPUT -i ${wan} -j DROP`,
    `-A FORWARD -i ${lan} -o ${wan} -j ACCEPT`,
    `-A FORWARD -i ${wan} -o ${lan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    // Where br_netfilter is loaded, frames between hosts of one LAN bridge pass FORWARD too.
    `-A FORWARD -i ${lan} -o ${lan} -j ACCEPT`,
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ['-A POSTROUTING -o', wan, '-j MASQUERADE', ...flags].join(' '),
    'COMMIT',
    '',
  ].join('\n')
}

/**
 * `iptables` arguments that send a router's traffic to and from `peers` (a `slow-relay`
 * remote's relays) to DELAY_QUEUE. Added once the remote is ready: its relay reservation is
 * made on a fast link, its rounds run on a slow one.
 */
export function slowLinkRules(peers: readonly string[]): string[][] {
  const queue = ['-j', 'NFQUEUE', '--queue-num', String(DELAY_QUEUE)]
  return peers.flatMap((ip) => [
    ['-t', 'mangle', '-A', 'FORWARD', '-s', ip, ...queue],
    ['-t', 'mangle', '-A', 'FORWARD', '-d', ip, ...queue],
  ])
}

/** The netfilter queue a delayed router's packets wait in (see routerRules and topology.ts). */
export const DELAY_QUEUE = 0

/**
 * The ground truth: can a client behind `clientNat` and a remote behind `remoteNat` get a
 * direct connection through DCUtR?
 *
 * - No side behind a symmetric NAT (cone or no NAT on both): yes; each side's outbound packet
 *   to the other's mapped address opens its own address-and-port-dependent filter for exactly
 *   the packets the other side sends, from the port it advertised. A side without NAT is
 *   "mapped" to itself.
 * - A symmetric NAT on either side: no, even against a public host. A new destination gets a
 *   new, random port on the symmetric side, so the address it advertised (observed by the
 *   relay) is not where its punch packets come from: the other side's packets go to a port the
 *   NAT never mapped, and its own arrive at a public peer's dial port, whose socket waits for
 *   the advertised port and answers RST. (A peer that dials from its listening port would
 *   accept them instead; the lab's js-libp2p peers cannot, Node does not connect from a port
 *   it listens on — measured: ECONNREFUSED, docs/LAB.md.) Random ports defeat port
 *   prediction too.
 *
 * TCP and QUIC share the table: conntrack treats a TCP simultaneous open like crossing UDP
 * flows. `transport` is part of the signature so that a future profile that treats them
 * differently (e.g. a firewall that drops UDP) needs no change at the call sites.
 */
export function expectedOutcome(
  clientNat: NatType,
  remoteNat: NatType,
  _transport: Transport,
): ExpectedOutcome {
  const mapsLikeCone = (nat: NatType) =>
    nat === 'none' || NAT_PROFILES[nat].mapping === 'endpoint-independent'
  return mapsLikeCone(clientNat) && mapsLikeCone(remoteNat) ? 'SUCCESS' : 'FAILED'
}

/** The IPv6 ground truth: the IPv4 one of the profiles that punch the same way (Nat6Profile). */
export function expectedOutcome6(client: Nat6Type, remote: Nat6Type, transport: Transport): ExpectedOutcome {
  return expectedOutcome(NAT6_PROFILES[client].punchesLike, NAT6_PROFILES[remote].punchesLike, transport)
}

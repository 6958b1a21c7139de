import { formatIPv6, parseIPv6 } from '../lib/multiaddr.js'
import { type RemoteBehaviour, SLOW_RELAY_DELAY_MS } from './behaviours.js'
import { formatIPv4, parseCidr } from './ipv4.js'
import { ifnames, MAX_IFNAME, namespaceName } from './names.js'
import {
  NAT6_PROFILES,
  type Nat6Type,
  type NatType,
  routerRules,
  routerRules6,
  type Transport,
} from './nat-profiles.js'
import { type HostImpl, type HostRole, routerName, type Scenario } from './scenario.js'

/**
 * The address and name plan of a lab, computed from a scenario without touching the system,
 * and the commands that build it. topology.ts runs them; tests read them.
 */

interface NodeBase {
  /** Unique in the scenario, e.g. `relay-1`, `home-a-router`, `alice`. */
  name: string
  /** The network namespace the node's processes run in. */
  netns: string
  /** The node's interface: its internet link, a router's WAN, a NATed host's LAN link. */
  iface: string
  /** The IPv4 address of `iface`; undefined in an IPv6-only home. */
  ip?: string
  prefixLength?: number
  /** The IPv4 address the internet sees the node's packets from (a NATed host: its router's WAN). */
  publicIp?: string
  /** Its IPv6 address on `iface`, when the lab has IPv6 and the node takes part. */
  ip6?: string
  /** The IPv6 address the internet sees its packets from (behind NAT66: the router's WAN). */
  publicIp6?: string
}

export type PublicNodeKind = 'relay' | 'server' | 'bootstrap'

/** A node on the internet: relay, punchr server (and honeypot), DHT bootstrap peer. */
export interface PublicNode extends NodeBase {
  kind: PublicNodeKind
  ip: string
  prefixLength: number
  publicIp: string
}

export interface RouterNode extends NodeBase {
  kind: 'router'
  home: string
  /** Its IPv4 profile, LAN address and subnet (e.g. `10.1.0.0/24`); undefined in an IPv6-only home. */
  nat?: NatType
  lanIface: string
  lanIp?: string
  lanSubnet?: string
  /** Its IPv6 profile, LAN address and /64 (public, or ULA behind NAT66); undefined without IPv6. */
  nat6?: Nat6Type
  lanIp6?: string
  lanSubnet6?: string
  /**
   * One-way delay it adds to the packets it forwards (the home's `delayMs`, or a `slow-relay`
   * remote's delay of its relay traffic); 0 = none.
   */
  delayMs: number
  /**
   * The IPs whose traffic alone is delayed, once the campaign adds their rules (slowLinkRules);
   * undefined = all traffic, from the start.
   */
  delayPeers?: string[]
}

export interface HostNode extends NodeBase {
  kind: 'host'
  home: string
  /** The home's IPv4 profile; undefined in an IPv6-only home. */
  nat?: NatType
  role: HostRole
  impl: HostImpl
  transports: Transport[]
  /** The home's IPv6 profile; undefined = no IPv6. */
  nat6?: Nat6Type
  /** How the remote misbehaves; undefined = it does not. */
  behaviour?: RemoteBehaviour
  /** The router's node name; undefined for a host without NAT (on the internet). */
  router: string | undefined
  /** The router's IPv4 LAN address; undefined without a router or IPv4. */
  gateway: string | undefined
}

export type LabNode = PublicNode | RouterNode | HostNode

export interface LabPlan {
  id: string
  internetNetns: string
  bridge: string
  /** Internet-side nodes first (in address order), then each home's router and hosts. */
  nodes: LabNode[]
  /** `ip -batch` lines for the root namespace: the namespaces, and every link created inside them. */
  create: string[]
  /** Per namespace, `ip -batch` lines run inside it: addresses, routes, links up. */
  configure: Map<string, string[]>
  /** Per router namespace, its iptables-restore input. */
  firewall: Map<string, string>
  /** Per router namespace with IPv6, its ip6tables-restore input. */
  firewall6: Map<string, string>
  /** Every namespace, internet first. */
  namespaces: string[]
}

const LAN_PREFIX = 24

export function planLab(scenario: Scenario, id: string): LabPlan {
  const internet = parseCidr(scenario.internet)
  if (internet === undefined) throw new Error(`bad internet subnet ${scenario.internet}`)
  const bits = internet.bits
  let nextPublic = internet.base + 1
  const takePublic = () => formatIPv4(nextPublic++)
  // IPv6 on the internet: the node's IPv4 host number in internet6 (11.0.0.5 → 2600:11::5);
  // called right after takePublic, for the nodes that have IPv6.
  const internet6 =
    scenario.internet6 === undefined ? undefined : parseIPv6(scenario.internet6.split('/')[0]!)!
  const takePublic6 = () =>
    internet6 === undefined ? undefined : formatIPv6(internet6 + BigInt(nextPublic - 1 - internet.base))
  const relayIps = () => nodes.flatMap((n) => (n.kind === 'relay' ? [n.ip] : []))

  const internetNetns = namespaceName(id, 'internet')
  const bridge = ifnames.bridge(id)
  const nodes: LabNode[] = []
  // Namespaces first, then the links created inside them.
  const netnsAdds: string[] = [`netns add ${internetNetns}`]
  const create: string[] = []
  const configure = new Map<string, string[]>([[internetNetns, ['link set dev lo up', ...linkUp(bridge)]]])
  const firewall = new Map<string, string>()
  const firewall6 = new Map<string, string>()
  const namespaces = [internetNetns]
  // IPv6 neighbour discovery needs a link-local address on each interface (without one, a
  // router's solicitations went unanswered: measured). `addrgenmode none` makes none, so each
  // IPv6 interface gets fe80::<n>, unique in the lab, without duplicate address detection.
  let nextLinkLocal = 1
  const ipv6Addr = (ip6: string, iface: string) => [
    `addr add fe80::${(nextLinkLocal++).toString(16)}/64 dev ${iface} nodad`,
    `addr add ${ip6}/64 dev ${iface} nodad`,
  ]
  /** Public IPv6 /64s of the homes, routed by every internet node via the home's router. */
  const routes6: { subnet: string; via: string; router: string }[] = []

  const addNamespace = (node: string) => {
    const netns = namespaceName(id, node)
    namespaces.push(netns)
    netnsAdds.push(`netns add ${netns}`)
    configure.set(netns, ['link set dev lo up'])
    return netns
  }
  const lines = (netns: string) => configure.get(netns)!
  /**
   * A veth from the internet bridge to `iface` in `netns`, which gets `ip` on the internet (and
   * `ip6`), each given one.
   */
  const attachToInternet = (netns: string, iface: string, ip: string | undefined, ip6?: string) => {
    const port = ifnames.bridgePort(id, nodes.length)
    create.push(`link add name ${port} netns ${internetNetns} type veth peer name ${iface} netns ${netns}`)
    lines(internetNetns).push(...linkUp(port, bridge))
    lines(netns).push(...(ip === undefined ? [] : [`addr add ${ip}/${bits} dev ${iface}`]), ...linkUp(iface))
    // nodad: no duplicate address detection to wait for (every address is planned unique).
    if (ip6 !== undefined) lines(netns).push(...ipv6Addr(ip6, iface))
  }
  const addPublic = (name: string, kind: PublicNodeKind) => {
    const netns = addNamespace(name)
    const iface = ifnames.eth(id)
    const ip = takePublic()
    const ip6 = takePublic6()
    attachToInternet(netns, iface, ip, ip6)
    nodes.push({ kind, name, netns, iface, ip, prefixLength: bits, publicIp: ip, ...v6(ip6, ip6) })
  }

  create.push(`link add name ${bridge} netns ${internetNetns} type bridge`)
  if (scenario.server) addPublic('server', 'server')
  for (const name of scenario.relays) addPublic(name, 'relay')
  for (const name of scenario.bootstrap) addPublic(name, 'bootstrap')

  scenario.homes.forEach((home, homeIndex) => {
    if (home.nat === 'none') {
      for (const host of home.hosts) {
        const netns = addNamespace(host.name)
        const iface = ifnames.eth(id)
        const ip = takePublic()
        const ip6 = home.nat6 === undefined ? undefined : takePublic6()
        attachToInternet(netns, iface, ip, ip6)
        nodes.push({
          kind: 'host',
          name: host.name,
          netns,
          iface,
          ip,
          prefixLength: bits,
          publicIp: ip,
          ...v6(ip6, ip6),
          ...(home.nat6 === undefined ? {} : { nat6: home.nat6 }),
          home: home.name,
          nat: home.nat,
          role: host.role,
          impl: host.impl,
          transports: host.transports,
          ...(host.behaviour === undefined ? {} : { behaviour: host.behaviour }),
          router: undefined,
          gateway: undefined,
        })
      }
      return
    }
    const name = routerName(home.name)
    const netns = addNamespace(name)
    const wan = ifnames.wan(id)
    const lan = ifnames.lan(id)
    // An IPv6-only router takes its number all the same: its IPv6 address is derived from it.
    const ipv4 = home.nat !== undefined
    const number = takePublic()
    const wanIp = ipv4 ? number : undefined
    const wanIp6 = home.nat6 === undefined ? undefined : takePublic6()
    // 10.n.0.0/24 for home n: private ranges are what home LANs use, and libp2p must see them as such.
    const lanBase = (10 << 24) + ((homeIndex + 1) << 16)
    const lanIp = ipv4 ? formatIPv4(lanBase + 1) : undefined
    // IPv6: the n-th /64 after the internet's (public, routed to the router), or fd11:0:0:n::/64
    // behind NAT66 (a ULA prefix, which libp2p treats as private, as home LANs are).
    const lan6Base =
      home.nat6 === undefined || internet6 === undefined
        ? undefined
        : NAT6_PROFILES[home.nat6].publicLan
          ? internet6 + (BigInt(homeIndex + 1) << 64n)
          : (0xfd11n << 112n) + (BigInt(homeIndex + 1) << 64n)
    const lanIp6 = lan6Base === undefined ? undefined : formatIPv6(lan6Base + 1n)
    attachToInternet(netns, wan, wanIp, wanIp6)
    create.push(`link add name ${lan} netns ${netns} type bridge`)
    lines(netns).push(
      ...(lanIp === undefined ? [] : [`addr add ${lanIp}/${LAN_PREFIX} dev ${lan}`]),
      ...linkUp(lan),
    )
    if (lanIp6 !== undefined) lines(netns).push(...ipv6Addr(lanIp6, lan))
    if (home.nat6 !== undefined && lan6Base !== undefined && wanIp6 !== undefined) {
      firewall6.set(netns, routerRules6(home.nat6, wan, lan, home.delayMs))
      if (NAT6_PROFILES[home.nat6].publicLan)
        routes6.push({ subnet: `${formatIPv6(lan6Base)}/64`, via: wanIp6, router: name })
    }
    const delay = routerDelay(home, relayIps())
    if (home.nat !== undefined)
      firewall.set(netns, routerRules(home.nat, wan, lan, delay.peers === undefined ? delay.ms : 0)!)
    nodes.push({
      kind: 'router',
      name,
      netns,
      iface: wan,
      ...(wanIp === undefined || home.nat === undefined
        ? {}
        : {
            ip: wanIp,
            prefixLength: bits,
            publicIp: wanIp,
            nat: home.nat,
            lanIp,
            lanSubnet: `${formatIPv4(lanBase)}/${LAN_PREFIX}`,
          }),
      home: home.name,
      lanIface: lan,
      ...v6(wanIp6, wanIp6),
      ...(home.nat6 === undefined || lan6Base === undefined
        ? {}
        : { nat6: home.nat6, lanIp6: lanIp6!, lanSubnet6: `${formatIPv6(lan6Base)}/64` }),
      delayMs: delay.ms,
      ...(delay.peers === undefined ? {} : { delayPeers: [...delay.peers] }),
    })
    home.hosts.forEach((host, hostIndex) => {
      const hostNetns = addNamespace(host.name)
      const port = ifnames.lanPort(id, nodes.length)
      const iface = ifnames.eth(id)
      const ip = ipv4 ? formatIPv4(lanBase + 2 + hostIndex) : undefined
      const ip6 = lan6Base === undefined ? undefined : formatIPv6(lan6Base + 2n + BigInt(hostIndex))
      create.push(`link add name ${port} netns ${netns} type veth peer name ${iface} netns ${hostNetns}`)
      lines(netns).push(...linkUp(port, lan))
      lines(hostNetns).push(
        ...(ip === undefined ? [] : [`addr add ${ip}/${LAN_PREFIX} dev ${iface}`]),
        ...linkUp(iface),
        ...(lanIp === undefined ? [] : [`route add default via ${lanIp}`]),
        ...(ip6 === undefined ? [] : [...ipv6Addr(ip6, iface), `route add default via ${lanIp6}`]),
      )
      nodes.push({
        kind: 'host',
        name: host.name,
        netns: hostNetns,
        iface,
        ...(ip === undefined || home.nat === undefined
          ? {}
          : { ip, prefixLength: LAN_PREFIX, publicIp: wanIp, nat: home.nat }),
        ...v6(ip6, home.nat6 !== undefined && NAT6_PROFILES[home.nat6].publicLan ? ip6 : wanIp6),
        ...(home.nat6 === undefined ? {} : { nat6: home.nat6 }),
        home: home.name,
        role: host.role,
        impl: host.impl,
        transports: host.transports,
        ...(host.behaviour === undefined ? {} : { behaviour: host.behaviour }),
        router: name,
        gateway: lanIp,
      })
    })
  })

  // Every node on the internet reaches a home's public /64 through that home's router.
  for (const node of nodes) {
    if (node.ip6 === undefined || (node.kind === 'host' && node.router !== undefined)) continue
    for (const route of routes6)
      if (route.router !== node.name) lines(node.netns).push(`route add ${route.subnet} via ${route.via}`)
  }

  for (const line of create) {
    // `link add name X netns N type veth peer name Y netns M`, `link add name X netns N type bridge`
    for (const [, iface] of line.matchAll(/\bname (\S+)/g)) {
      if (iface!.length > MAX_IFNAME)
        throw new Error(`interface name ${iface} is longer than ${MAX_IFNAME} characters`)
    }
  }
  return {
    id,
    internetNetns,
    bridge,
    nodes,
    create: [...netnsAdds, ...create],
    configure,
    firewall,
    firewall6,
    namespaces,
  }
}

/** The IPv6 fields of a node, when it has IPv6. */
function v6(ip6: string | undefined, publicIp6: string | undefined): { ip6?: string; publicIp6?: string } {
  return ip6 === undefined ? {} : { ip6, ...(publicIp6 === undefined ? {} : { publicIp6 }) }
}

/** What a home's router delays: the home's `delayMs`, or a `slow-relay` remote's relay traffic. */
function routerDelay(home: Scenario['homes'][number], relayIps: string[]): { ms: number; peers?: string[] } {
  if (home.hosts.some((h) => h.behaviour === 'slow-relay'))
    return { ms: SLOW_RELAY_DELAY_MS, peers: relayIps }
  return { ms: home.delayMs }
}

/**
 * Brings a link up without IPv6 link-local addressing (`addrgenmode none`, set before `up`): the
 * lab is IPv4-only, and this spares every link its IPv6 duplicate address detection, router
 * solicitations and MLD reports.
 */
function linkUp(iface: string, master?: string): string[] {
  return [
    `link set dev ${iface} addrgenmode none`,
    master === undefined ? `link set dev ${iface} up` : `link set dev ${iface} master ${master} up`,
  ]
}

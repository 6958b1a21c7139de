// Which IP families a client measures with. A host listens and punches on each: IPv4 and IPv6
// are separate paths through a home's router (NAT for one, often a firewall only for the
// other), and "IPv4 vs IPv6" is one of the questions a campaign answers. By default the
// families the machine can reach the internet on; `--ip` names them.
import { createSocket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import { isUsableInterfaceIp } from '../lib/multiaddr.js'

export type IpFamily = 'ip4' | 'ip6'
export const IP_FAMILIES: readonly IpFamily[] = ['ip4', 'ip6']

/** What a family's probe found: usable, or why not. */
export interface FamilyProbe {
  usable: boolean
  /** Why the family is not usable (no address, no route). */
  error?: string
}

/**
 * Where a route check "connects" a UDP socket to: connect() on UDP sends nothing, it only asks
 * the kernel for a route (ENETUNREACH without one). Documentation addresses, outside every
 * local network, which the kernel routes like any other internet address.
 */
const ROUTE_CHECK_TARGET: Record<IpFamily, string> = {
  ip4: '192.0.2.1',
  ip6: '2001:db8::1',
}

/**
 * Whether the machine can reach the internet on `family`: an interface address of that family
 * that is neither loopback nor link-local, and a route towards a public address of it.
 */
export async function probeFamily(family: IpFamily): Promise<FamilyProbe> {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && a.family === (family === 'ip4' ? 'IPv4' : 'IPv6'))
    .filter((a) => isUsableInterfaceIp(a!.address))
  if (addresses.length === 0)
    return { usable: false, error: `no ${family === 'ip4' ? 'IPv4' : 'IPv6'} address on any interface` }
  const socket = createSocket(family === 'ip4' ? 'udp4' : 'udp6')
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(9, ROUTE_CHECK_TARGET[family], () => resolve())
    })
    return { usable: true }
  } catch (err) {
    return {
      usable: false,
      error: `no route to the internet: ${err instanceof Error ? err.message : String(err)}`,
    }
  } finally {
    socket.close()
  }
}

/** The families the machine can reach the internet on, and each probe. */
export async function detectIpFamilies(): Promise<{
  families: IpFamily[]
  probes: Record<IpFamily, FamilyProbe>
}> {
  const probes = { ip4: await probeFamily('ip4'), ip6: await probeFamily('ip6') }
  return { families: IP_FAMILIES.filter((f) => probes[f].usable), probes }
}

/** The family of an IP address literal (`::` and `fd00::1` are ip6). */
export function familyOf(ip: string): IpFamily {
  return ip.includes(':') ? 'ip6' : 'ip4'
}

/** `4,6` for the agent version's `ip=` (the server reads it: src/server/client-capabilities.ts). */
export function familiesTag(families: readonly IpFamily[]): string {
  return IP_FAMILIES.filter((f) => families.includes(f))
    .map((f) => f.slice(2))
    .join(',')
}

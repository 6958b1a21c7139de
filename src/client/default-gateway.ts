// The machine's default IPv4 gateway, the home router: where the router probe asks for its
// login page (router-probe.ts) and the port mapper asks for mappings (port-mapping.ts).
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { endianness } from 'node:os'

export const PROC_NET_ROUTE = '/proc/net/route'

/**
 * The default IPv4 gateway of a /proc/net/route text: the up route with a gateway (flags
 * RTF_UP|RTF_GATEWAY) to 0.0.0.0/0 of lowest metric, or undefined. The kernel prints addresses
 * as host-order hex of the network-order value: reversed bytes on little-endian machines.
 */
export function parseProcNetRoute(text: string, littleEndian = endianness() === 'LE'): string | undefined {
  let best: { gateway: string; metric: number } | undefined
  for (const line of text.split('\n')) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
    const [, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/)
    if (destination !== '00000000' || mask !== '00000000' || gateway === undefined) continue
    if (!/^[0-9A-Fa-f]{8}$/.test(gateway) || gateway === '00000000') continue
    if ((Number.parseInt(flags ?? '0', 16) & 0x3) !== 0x3) continue
    const bytes = (gateway.match(/../g) ?? []).map((b) => Number.parseInt(b, 16))
    const address = (littleEndian ? bytes.reverse() : bytes).join('.')
    const m = Number(metric)
    const rank = Number.isFinite(m) ? m : Number.MAX_SAFE_INTEGER
    if (best === undefined || rank < best.metric) best = { gateway: address, metric: rank }
  }
  return best?.gateway
}

/** The default IPv4 gateway of this machine (Linux only), or why there is none. */
export async function findDefaultGateway(
  routeFile = PROC_NET_ROUTE,
): Promise<{ gateway: string } | { error: string }> {
  if (process.platform !== 'linux' && routeFile === PROC_NET_ROUTE) {
    return { error: `no default gateway lookup on ${process.platform} (only Linux's ${PROC_NET_ROUTE})` }
  }
  let text: string
  try {
    text = await readFile(routeFile, 'utf8')
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code
    return {
      error: `cannot read ${routeFile}: ${typeof code === 'string' ? code : String(err)}`.slice(0, 200),
    }
  }
  const gateway = parseProcNetRoute(text)
  return gateway === undefined ? { error: `no default IPv4 gateway found in ${routeFile}` } : { gateway }
}

/** The default IPv4 gateway, read synchronously; undefined without one (or off Linux). */
export function defaultGateway4(routeFile = PROC_NET_ROUTE): string | undefined {
  try {
    return parseProcNetRoute(readFileSync(routeFile, 'utf8'))
  } catch {
    return undefined // not Linux
  }
}

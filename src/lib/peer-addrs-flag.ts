import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { FlagSpec } from './flags.js'

/**
 * The public IPFS bootstrap peers (kubo's and go-libp2p-kad-dht's default list, which the Go
 * client used): peers every host can reach, to learn its observed address or to join the DHT.
 */
export const DEFAULT_BOOTSTRAP_PEERS: readonly string[] = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ',
]

/** A flag holding a comma- or space-separated list of multiaddrs, each ending in /p2p/<peer id>. */
export function peerAddrsFlag(
  name: string,
  description: string,
  defaults: readonly string[],
): FlagSpec<Multiaddr[]> {
  return {
    name,
    description,
    group: 'Network',
    default: defaults.map((a) => multiaddr(a)),
    parse: (raw, fail) =>
      raw
        .split(/[\s,]+/)
        .filter((s) => s !== '')
        .map((text) => {
          let addr: Multiaddr
          try {
            addr = multiaddr(text)
          } catch (err) {
            return fail(`${text} is not a multiaddr (${err instanceof Error ? err.message : String(err)})`)
          }
          if (addr.getComponents().at(-1)?.name !== 'p2p') fail(`${text} does not end in /p2p/<peer id>`)
          return addr
        }),
  }
}

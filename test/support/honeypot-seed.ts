import { multiaddr } from '@multiformats/multiaddr'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import type { Database } from '../../src/db/database.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { newPeer, relayAddr, type TestPeer } from './fixtures.js'

export interface SeenOptions {
  /** The relays the remote holds reservations on, or how many fresh ones to make. @default 1 */
  relays?: TestPeer[] | number
  /** @default ['/ipfs/id/1.0.0', '/libp2p/dcutr'] */
  protocols?: string[]
  /** How long ago the connection opened. @default 0 */
  minutesAgo?: number
  /** The address the remote connected from. @default its first relay address */
  connectionAddr?: string
}

/**
 * Records a connection event for `remote` as the honeypot would after identify, which makes
 * a DCUtR-capable relay-only remote an allocation candidate. Returns its relay addrs.
 */
export async function seenByHoneypot(
  db: Database,
  remote: TestPeer,
  options: SeenOptions = {},
): Promise<string[]> {
  const relays =
    typeof options.relays === 'object'
      ? options.relays
      : await Promise.all(Array.from({ length: options.relays ?? 1 }, () => newPeer()))
  const addrs = relays.map((relay, i) => relayAddr(relay, remote, i + 1))
  await recordConnectionEvent(
    db,
    {
      remoteId: remote.id,
      agentVersion: 'kubo/0.25.0',
      protocols: options.protocols ?? ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
      listenAddrs: addrs.map((a) => classifyMultiaddr(multiaddr(a))),
      connectionAddr: connectionAddrOf(options.connectionAddr ?? addrs[0]),
      openedAt: new Date(Date.now() - (options.minutesAgo ?? 0) * 60_000),
    },
    () => ({ country: null, asn: null }),
  )
  return addrs
}

function connectionAddrOf(addr: string | undefined) {
  return addr === undefined ? null : classifyMultiaddr(multiaddr(addr))
}

import { multiaddr } from '@multiformats/multiaddr'
import {
  type ConnectionEvent,
  recordConnectionEvent,
  recordConnectionEvents,
} from '../../src/db/connection-events.js'
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
  /** A real relay's address: the remote's one relay address is through it (instead of `relays`). */
  through?: string
  /** @default 'kubo/0.25.0' */
  agentVersion?: string
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
  const addrs =
    options.through === undefined
      ? (await relaysOf(options)).map((relay, i) => relayAddr(relay, remote, i + 1))
      : [`${options.through}/p2p-circuit/p2p/${remote.id}`]
  await recordConnectionEvent(
    db,
    {
      remoteId: remote.id,
      agentVersion: options.agentVersion ?? 'kubo/0.25.0',
      protocols: options.protocols ?? ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
      listenAddrs: addrs.map((a) => classifyMultiaddr(multiaddr(a))),
      connectionAddr: connectionAddrOf(options.connectionAddr ?? addrs[0]),
      openedAt: new Date(Date.now() - (options.minutesAgo ?? 0) * 60_000),
    },
    () => ({ country: null, asn: null }),
  )
  return addrs
}

function relaysOf(options: SeenOptions): Promise<TestPeer[]> {
  return typeof options.relays === 'object'
    ? Promise.resolve(options.relays)
    : Promise.all(Array.from({ length: options.relays ?? 1 }, () => newPeer()))
}

function connectionAddrOf(addr: string | undefined) {
  return addr === undefined ? null : classifyMultiaddr(multiaddr(addr))
}

/** `count` DCUtR remotes seen by a honeypot just now, each with a relay address at its own IP. */
export async function seedCandidates(db: Database, count: number): Promise<void> {
  const noGeo = () => ({ country: null, asn: null })
  for (let start = 0; start < count; start += 100) {
    const events: ConnectionEvent[] = []
    for (let i = start; i < Math.min(count, start + 100); i++) {
      const [remote, relay] = await Promise.all([newPeer(), newPeer()])
      const addr = classifyMultiaddr(
        multiaddr(
          `/ip4/11.${1 + (i >> 8)}.${i & 255}.1/tcp/4001/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`,
        ),
      )
      events.push({
        remoteId: remote.id,
        agentVersion: 'kubo/0.30.0',
        protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
        listenAddrs: [addr],
        connectionAddr: addr,
        openedAt: new Date(),
      })
    }
    await db.transaction((tx) => recordConnectionEvents(tx, events, noGeo))
  }
}

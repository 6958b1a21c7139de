// Walks the DHT again and again so that peers all over it put the honeypot in their routing
// tables: every peer a lookup contacts sees a DHT server that answers, and keeps it.
// A walk is one lookup per prefix of the keyspace (WALK_PREFIX_BITS), not a crawl: the walks
// never end, and a crawl of the whole DHT each time is more than attraction needs. One walk
// failing (no bootstrap peer reachable, every lookup timing out) is reported and the next one
// runs after the interval all the same; stop() aborts the walk in progress.
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { KEEP_ALIVE, type Libp2p } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BOOTSTRAP_DIAL_TIMEOUT, LOOKUP_TIMEOUT, WALK_CONCURRENCY, WALK_PREFIX_BITS } from './constants.js'

export type WalkResult = 'ok' | 'no_peers' | 'failed'

export interface WalkReport {
  /** 1 for the first walk. */
  number: number
  result: WalkResult
  seconds: number
  lookups: { ok: number; failed: number }
  /** Distinct peers that answered a lookup: each now knows the honeypot. */
  peersContacted: number
  routingTableSize: number
  /** Why the walk failed (the last error seen). */
  error?: string
}

export interface WalkerInit {
  node: Libp2p<{ dht: SingleKadDHT }>
  bootstrapPeers: readonly Multiaddr[]
  /** Pause between walks, ms. */
  interval: number
  onWalk: (report: WalkReport) => void
  /** @default LOOKUP_TIMEOUT */
  lookupTimeout?: number
  /** @default BOOTSTRAP_DIAL_TIMEOUT */
  bootstrapTimeout?: number
}

interface LookupOutcome {
  ok: boolean
  responders: string[]
  error?: string
}

export class DhtWalker {
  private readonly controller = new AbortController()
  private running: Promise<void> | undefined
  private lastResult: WalkResult = 'ok'
  private readonly init: WalkerInit

  constructor(init: WalkerInit) {
    this.init = init
  }

  start(): void {
    this.running ??= this.loop(this.controller.signal)
  }

  async stop(): Promise<void> {
    this.controller.abort()
    await this.running
  }

  private async loop(signal: AbortSignal): Promise<void> {
    for (let n = 1; !signal.aborted; n++) {
      const report = await this.walk(n, signal)
      if (signal.aborted) return // a walk cut short by stop() is no result
      this.lastResult = report.result
      this.init.onWalk(report)
      await sleep(this.init.interval, undefined, { signal }).catch(() => undefined)
    }
  }

  private async walk(number: number, signal: AbortSignal): Promise<WalkReport> {
    const started = performance.now()
    const dht = this.init.node.services.dht
    const report = (result: WalkResult, rest: Partial<WalkReport> = {}): WalkReport => ({
      number,
      result,
      seconds: (performance.now() - started) / 1000,
      lookups: { ok: 0, failed: 0 },
      peersContacted: 0,
      routingTableSize: dht.routingTable.size,
      ...rest,
    })
    try {
      // Also after a failed walk: the routing table may hold only peers that are gone (an
      // outage of our own network), and kad-dht drops them only when a full bucket needs room.
      if (dht.routingTable.size === 0 || this.lastResult !== 'ok') {
        const error = await this.bootstrap(signal)
        if (error !== undefined && dht.routingTable.size === 0) return report('no_peers', { error })
      }
      const outcomes = await inParallel(walkKeys(WALK_PREFIX_BITS), WALK_CONCURRENCY, (key) =>
        this.lookup(key, signal),
      )
      const ok = outcomes.filter((o) => o.ok).length
      const walked = report(ok > 0 ? 'ok' : 'failed', {
        lookups: { ok, failed: outcomes.length - ok },
        peersContacted: new Set(outcomes.flatMap((o) => o.responders)).size,
        ...(ok > 0
          ? {}
          : { error: outcomes.find((o) => o.error !== undefined)?.error ?? 'no peer answered' }),
      })
      await this.closeWalkConnections()
      return walked
    } catch (err) {
      return report('failed', { error: err instanceof Error ? err.message : String(err) })
    }
  }

  /**
   * Dials the bootstrap peers and waits for one of them to enter the routing table (kad-dht
   * adds a peer once identify showed it is a DHT server). Returns why that failed, if it did.
   */
  private async bootstrap(signal: AbortSignal): Promise<string | undefined> {
    const timeout = this.init.bootstrapTimeout ?? BOOTSTRAP_DIAL_TIMEOUT
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeout)])
    const failures: string[] = []
    await Promise.all(
      this.init.bootstrapPeers.map((addr) =>
        this.init.node.dial(addr, { signal: deadline }).catch((err: unknown) => {
          failures.push(`${addr.toString()}: ${err instanceof Error ? err.message : String(err)}`)
        }),
      ),
    )
    if (failures.length === this.init.bootstrapPeers.length)
      return `no bootstrap peer reachable (${failures.join('; ')})`
    const table = this.init.node.services.dht.routingTable
    while (table.size === 0 && !deadline.aborted) {
      await sleep(100, undefined, { signal: deadline }).catch(() => undefined)
    }
    return table.size > 0 ? undefined : 'no bootstrap peer is a DHT server (routing table still empty)'
  }

  private async lookup(key: Uint8Array, signal: AbortSignal): Promise<LookupOutcome> {
    const responders = new Set<string>()
    let error: string | undefined
    try {
      const options = {
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.lookupTimeout ?? LOOKUP_TIMEOUT)]),
      }
      for await (const event of this.init.node.services.dht.getClosestPeers(key, options)) {
        if (event.name === 'PEER_RESPONSE') responders.add(event.from.toString())
        else if (event.name === 'QUERY_ERROR') error = event.error.message
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err)
    }
    return { ok: responders.size > 0, responders: [...responders], ...(error === undefined ? {} : { error }) }
  }

  /**
   * Closes the walk's outbound connections, so that they do not take the connection budget
   * from inbound peers (libp2p refuses inbound connections at the limit). Kept: peers libp2p
   * keeps alive (kad-dht's closest peers); the others remember us all the same.
   */
  private async closeWalkConnections(): Promise<void> {
    const node = this.init.node
    await Promise.allSettled(
      node
        .getConnections()
        .filter((c) => c.direction === 'outbound')
        .map(async (c) => {
          const peer = await node.peerStore.get(c.remotePeer).catch(() => undefined)
          if ([...(peer?.tags.keys() ?? [])].some((tag) => tag.startsWith(KEEP_ALIVE))) return
          await c.close()
        }),
    )
  }
}

/**
 * One random key under each prefix of `bits` bits of the keyspace, in random order. kad-dht
 * looks a key up at SHA-256(key), so keys are drawn until every prefix has one (2^bits · H(2^bits)
 * hashes on average: ~54 for 4 bits).
 */
export function walkKeys(bits: number): Uint8Array[] {
  const keys = new Map<number, Uint8Array>()
  while (keys.size < 2 ** bits) {
    const key = randomBytes(32)
    const prefix = createHash('sha256').update(key).digest()[0]! >> (8 - bits)
    if (!keys.has(prefix)) keys.set(prefix, key)
  }
  return [...keys.values()]
}

/** `fn` over `items` with at most `concurrency` calls at once; results in completion order. */
async function inParallel<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const queue = [...items]
  const results: R[] = []
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) results.push(await fn(item))
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}

import type { ClientHost } from '../db/clients.js'
import { RecentMap } from '../lib/recent-map.js'

/** How long a host found for a report serves the host's next reports. */
const RECENT_HOST_MAX_AGE_MS = 60_000
/** Hosts remembered per generation of the RecentMap (at most twice as many in all). */
const RECENT_HOSTS = 20_000

interface Found {
  host: ClientHost
  foundAt: number
}

/**
 * The hosts reports came from lately, so that a host reporting again within a minute costs no
 * lookup: on the ingest benchmark the host lookups were three in five of the statements a
 * report cost (docs/benchmarks.md, "Reports: the host from a minute ago").
 *
 * What a report takes from its host cannot go wrong in that minute: the client id, the peer
 * id and the API key the host is bound to never change once the host registered (clients.ts:
 * Register with another key is refused, no row is deleted), and the key itself is checked on
 * every call by the key cache, which hears revocations. Only the agent version may change (a
 * Register with a new one), and a report reads just the client implementation from it. A
 * Register on this server forgets the host at once; one on another replica is seen within
 * RECENT_HOST_MAX_AGE_MS. GetAddrInfo does not use this: it reads the host's listen IP
 * versions, which every report may change.
 *
 * Unregistered hosts are not remembered: a host that registers is found by its next report.
 */
export class RecentHosts {
  private readonly found = new RecentMap<Found>(RECENT_HOSTS)
  /** Counts forget() calls: a lookup that started before one must not be remembered. */
  private forgets = 0

  constructor(
    private readonly lookUp: (multiHash: string) => Promise<ClientHost | undefined>,
    private readonly maxAgeMs = RECENT_HOST_MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The host as found within the last maxAgeMs, else as looked up now; undefined when not registered. */
  async get(multiHash: string): Promise<ClientHost | undefined> {
    const recent = this.found.get(multiHash)
    if (recent !== undefined && this.now() - recent.foundAt < this.maxAgeMs) return recent.host
    const forgets = this.forgets
    const startedAt = this.now()
    const host = await this.lookUp(multiHash)
    if (host !== undefined && forgets === this.forgets)
      this.found.set(multiHash, { host, foundAt: startedAt })
    return host
  }

  /** Drops what is known of the host: it registered again, maybe with another agent version. */
  forget(multiHash: string): void {
    this.forgets++
    this.found.delete(multiHash)
  }
}

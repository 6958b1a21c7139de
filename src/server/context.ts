import type { AllocationPolicy } from '../db/allocation.js'
import type { ClientHost } from '../db/clients.js'
import type { Database } from '../db/database.js'
import type { HolePunchReport } from '../db/hole-punches.js'
import type { GeoResolver } from '../db/multi-addresses.js'
import type { Logger } from '../lib/logger.js'
import type { Authenticator } from './auth.js'
import type { GroupCommit } from './group-commit.js'
import type { ServerMetrics } from './metrics.js'
import type { FilterShare } from './protocol-filter.js'
import type { RecentHosts } from './recent-hosts.js'

/** What every RPC handler gets: the shared services of one server instance. */
export interface ServerContext {
  db: Database
  auth: Authenticator
  allocation: AllocationPolicy
  /** Hand out relay addresses whose hop is a private or loopback IP too (--private-relay-hops). */
  privateRelayHops: boolean
  /** The protocol filters' shares (--filter-shares); default FILTER_SHARES. */
  filterShares?: readonly FilterShare[]
  geo: GeoResolver
  /**
   * Finds a registered host by its peer ID (base58), in one statement with the lookups that
   * arrive beside it; undefined when it is not registered.
   */
  findHost(multiHash: string): Promise<ClientHost | undefined>
  /** The hosts reports came from lately: what TrackHolePunch looks its host up in (recent-hosts.ts). */
  recentHosts: RecentHosts
  /** Stores reports in batches (group commit); answers each with its result id, or undefined for a retry. */
  reports: GroupCommit<HolePunchReport, number | undefined>
  metrics: ServerMetrics
  log: Logger
  /** Server clock in Unix nanoseconds (tests may pin it). */
  nowNs(): bigint
  /** Uniform random number in [0, 1) for the protocol filter draw (tests may pin it). */
  random(): number
}

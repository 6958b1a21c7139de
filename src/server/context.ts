import type { AllocationPolicy } from '../db/allocation.js'
import type { Database } from '../db/database.js'
import type { GeoResolver } from '../db/multi-addresses.js'
import type { RelayHopBudget } from '../db/relay-hops.js'
import type { Logger } from '../lib/logger.js'
import type { Authenticator } from './auth.js'
import type { ServerMetrics } from './metrics.js'
import type { FilterShare } from './protocol-filter.js'

/** What every RPC handler gets: the shared services of one server instance. */
export interface ServerContext {
  db: Database
  auth: Authenticator
  allocation: AllocationPolicy
  /** Relay addresses handed out per hop IP in the last minute (address poisoning bound). */
  relayHops: RelayHopBudget
  /** Hand out relay addresses whose hop is a private or loopback IP too (--private-relay-hops). */
  privateRelayHops: boolean
  /** The protocol filters' shares (--filter-shares); default FILTER_SHARES. */
  filterShares?: readonly FilterShare[]
  geo: GeoResolver
  metrics: ServerMetrics
  log: Logger
  /** Server clock in Unix nanoseconds (tests may pin it). */
  nowNs(): bigint
  /** Uniform random number in [0, 1) for the protocol filter draw (tests may pin it). */
  random(): number
}

import type { AllocationPolicy } from '../db/allocation.js'
import type { Database } from '../db/database.js'
import type { GeoResolver } from '../db/multi-addresses.js'
import type { Logger } from '../lib/logger.js'
import type { Authenticator } from './auth.js'
import type { ServerMetrics } from './metrics.js'

/** What every RPC handler gets: the shared services of one server instance. */
export interface ServerContext {
  db: Database
  auth: Authenticator
  allocation: AllocationPolicy
  geo: GeoResolver
  metrics: ServerMetrics
  log: Logger
  /** Server clock in Unix nanoseconds (tests may pin it). */
  nowNs(): bigint
  /** Uniform random number in [0, 1) for the protocol filter draw (tests may pin it). */
  random(): number
}

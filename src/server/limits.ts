/**
 * Bounds on what one request may carry. They are generous for honest clients (the Go client
 * sends ≤ 3 attempts, ≤ 10 addresses per list, 3 latency measurements of ≤ 10 pings) and
 * keep a single report from costing the database more than a few hundred rows.
 */
export const LIMITS = {
  /** Whole request message, bytes (Connect's readMaxBytes). */
  maxMessageBytes: 1024 * 1024,
  maxAttempts: 50,
  maxAddressesPerList: 100,
  maxLatencyMeasurements: 32,
  maxRttsPerMeasurement: 100,
  maxNatMappings: 64,
  maxProtocols: 512,
  maxHostIds: 1024,
  /** Seconds; a ping or CONNECT/SYNC round trip longer than this is not a measurement. */
  maxRttSeconds: 120,
  /** Seconds; one attempt or round cannot plausibly take longer. */
  maxDurationSeconds: 24 * 3600,
}

/**
 * Plausible report timestamps, Unix nanoseconds: after 2015 (libp2p's birth) and at most a
 * day ahead of the server clock. Catches seconds/milliseconds/microseconds sent as
 * nanoseconds, the unit mistakes of older clients.
 */
export const EARLIEST_TIMESTAMP_NS = 1_420_070_400_000_000_000n // 2015-01-01T00:00:00Z
export const MAX_CLOCK_AHEAD_NS = 24n * 3600n * 1_000_000_000n

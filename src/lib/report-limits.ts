// What one request to the punchr API may carry. The server refuses (INVALID_ARGUMENT) what
// goes beyond, and our client builds its reports within them (src/client/report.ts): one
// module for both sides, so they cannot drift apart.

/**
 * Bounds on what one request may carry. They are generous for honest clients (≤ 3 attempts,
 * ≤ 10 addresses per list, a few latency measurements) and keep a single report from costing
 * the database more than a few hundred rows. The original Go client pings back to back for
 * 10 s, so its ping series are as long as 10 s over the RTT: quirks.ts keeps the first
 * `maxRttsPerMeasurement` of them.
 */
export const LIMITS = {
  /**
   * Whole request message, bytes: grpc-go's default receive limit, which the original server
   * had, so no report it stored is refused here. The Go client's back-to-back pings reach
   * 1.2 MB in a 10 s series at the NAT lab's tens of microseconds of RTT.
   */
  maxMessageBytes: 4 * 1024 * 1024,
  maxAttempts: 50,
  maxAddressesPerList: 100,
  maxLatencyMeasurements: 32,
  maxRttsPerMeasurement: 100,
  maxNatMappings: 64,
  /** One per path: two transports times two IP versions. */
  maxNatBehaviours: 4,
  maxProtocols: 512,
  maxHostIds: 1024,
  /** Seconds; a ping or CONNECT/SYNC round trip longer than this is not a measurement. */
  maxRttSeconds: 120,
  /** Seconds; one attempt or round cannot plausibly take longer. */
  maxDurationSeconds: 24 * 3600,
  /**
   * Characters our client keeps of a text a remote chose (agent version, one protocol ID, an
   * error quoting it): the server takes any length within the message, but 512 protocols of
   * 10 kB each would not fit in one.
   */
  maxRemoteTextChars: 1024,
  /**
   * Characters of protocol IDs our client keeps per latency measurement, the first ones in
   * order: an honest peer lists a few dozen short IDs (~1 kB), and 32 measurements of this
   * much stay far within maxMessageBytes.
   */
  maxRemoteProtocolChars: 16 * 1024,
}

/**
 * Plausible report timestamps, Unix nanoseconds: after 2015 (libp2p's birth) and at most a
 * day ahead of the server clock. Catches seconds/milliseconds/microseconds sent as
 * nanoseconds, the unit mistakes of older clients.
 */
export const EARLIEST_TIMESTAMP_NS = 1_420_070_400_000_000_000n // 2015-01-01T00:00:00Z
export const MAX_CLOCK_AHEAD_NS = 24n * 3600n * 1_000_000_000n

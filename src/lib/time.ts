/**
 * Unix nanoseconds (the wire's timestamps) to an ISO-8601 UTC string with microsecond
 * precision, which PostgreSQL's timestamptz stores exactly. A JS Date would keep only
 * milliseconds, losing the sub-millisecond timing of hole punch attempts.
 */
export function nsToIsoMicros(ns: bigint): string {
  const micros = ns / 1000n
  const millis = micros / 1000n
  const iso = new Date(Number(millis)).toISOString() // …T12:34:56.789Z
  const extraMicros = (((micros % 1000n) + 1000n) % 1000n).toString().padStart(3, '0')
  return `${iso.slice(0, -1)}${extraMicros}Z`
}

/** The current time in Unix nanoseconds. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n
}

// Trace timestamps: Unix time in nanoseconds (the unit of the wire's `*_at` fields, docs/PROTOCOL.md, "Wire API").
// Date.now() has millisecond steps and can jump when the system clock is set; a DCUtR round
// lasts milliseconds. So the wall clock is read once and the monotonic hrtime counter carries
// it forward: differences between timestamps are exact, the absolute value is as good as the
// wall clock was at start-up.

/** Returns the current time as Unix nanoseconds. */
export type Clock = () => bigint

const anchor = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()

/** The default clock: wall-clock anchored monotonic nanoseconds. */
export const nowNs: Clock = () => anchor + process.hrtime.bigint()

/** Nanoseconds → seconds, for the wire's `float` durations. */
export function nsToSeconds(ns: bigint): number {
  return Number(ns) / 1e9
}

/** Nanoseconds → milliseconds, for logs. */
export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6
}

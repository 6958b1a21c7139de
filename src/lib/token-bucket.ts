/** A token bucket: `capacity` tokens, refilled continuously at `ratePerMs`. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly capacity: number,
    private readonly ratePerMs: number,
    // A monotonic clock: a wall clock stepping backwards would drain the bucket.
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity
    this.last = now()
  }

  static perMinute(count: number, now?: () => number): TokenBucket {
    return new TokenBucket(count, count / 60_000, now)
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now()
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, t - this.last) * this.ratePerMs)
    this.last = t
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

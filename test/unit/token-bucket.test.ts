import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TokenBucket } from '../../src/lib/token-bucket.js'

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
    set: (ms: number) => {
      t = ms
    },
  }
}

/** How many takes succeed in a row right now. */
function drain(bucket: TokenBucket, max = 10_000): number {
  let n = 0
  while (n < max && bucket.take()) n++
  return n
}

describe('TokenBucket', () => {
  it('starts full', () => {
    const clock = fakeClock()
    const bucket = new TokenBucket(3, 1 / 1000, clock.now)
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false])
  })

  // [ms to advance after draining a bucket of 5 at 1 token/s, takes that then succeed]
  const refills: [number, number][] = [
    [0, 0],
    [999, 0],
    [1000, 1],
    [1999, 1],
    [2000, 2],
    [4999, 4],
    [5000, 5],
    [60_000, 5], // capped at the capacity
    [24 * 3600_000, 5],
  ]
  for (const [ms, expected] of refills) {
    it(`refills continuously: ${ms} ms after draining → ${expected} token(s)`, () => {
      const clock = fakeClock()
      const bucket = new TokenBucket(5, 1 / 1000, clock.now)
      assert.equal(drain(bucket), 5)
      clock.advance(ms)
      assert.equal(drain(bucket), expected)
    })
  }

  it('failed takes do not consume or lose partial refill', () => {
    const clock = fakeClock()
    const bucket = new TokenBucket(1, 1 / 1024, clock.now)
    assert.equal(bucket.take(), true)
    for (let i = 0; i < 7; i++) {
      clock.advance(128)
      assert.equal(bucket.take(), false, `after ${(i + 1) * 128} ms`)
    }
    clock.advance(128) // 1024 ms in total: exactly one token
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
  })

  it('a steady rate equal to the refill rate is always allowed', () => {
    const clock = fakeClock()
    const bucket = new TokenBucket(1, 1 / 100, clock.now)
    for (let i = 0; i < 1000; i++) {
      assert.equal(bucket.take(), true, `take ${i}`)
      clock.advance(100)
    }
  })

  it('a burst above the rate is cut to capacity + refill', () => {
    const clock = fakeClock()
    const bucket = new TokenBucket(10, 1 / 1000, clock.now)
    let allowed = 0
    // 100 requests per second for 10 s.
    for (let i = 0; i < 1000; i++) {
      if (bucket.take()) allowed++
      clock.advance(10)
    }
    assert.equal(allowed, 10 + 9) // the initial 10, then one per elapsed second (9.99 s)
  })

  it('perMinute(n): n at once, then one every 60/n s', () => {
    const clock = fakeClock()
    const bucket = TokenBucket.perMinute(60, clock.now)
    assert.equal(drain(bucket), 60)
    clock.advance(999)
    assert.equal(bucket.take(), false)
    clock.advance(1)
    assert.equal(bucket.take(), true)
    clock.advance(60_000)
    assert.equal(drain(bucket), 60)
  })

  it('perMinute(10) as used for open registration', () => {
    const clock = fakeClock()
    const bucket = TokenBucket.perMinute(10, clock.now)
    assert.equal(drain(bucket), 10)
    clock.advance(5999)
    assert.equal(bucket.take(), false)
    clock.advance(1)
    assert.equal(bucket.take(), true)
  })

  it('a capacity below 1 never allows a take', () => {
    const clock = fakeClock()
    const bucket = new TokenBucket(0, 1, clock.now)
    clock.advance(1_000_000)
    assert.equal(bucket.take(), false)
  })

  it('reads the clock once per take', () => {
    let reads = 0
    const bucket = new TokenBucket(2, 1, () => {
      reads++
      return 0
    })
    assert.equal(reads, 1) // the constructor
    bucket.take()
    bucket.take()
    assert.equal(reads, 3)
  })

  it('defaults to Date.now', () => {
    const bucket = new TokenBucket(1, 1 / 60_000)
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
  })

  // The default clock is Date.now, which steps backwards when the system clock is corrected
  // (NTP, manual change). `tokens + (t - last) * rate` then goes negative by the whole step:
  // a 1 h step back blocks a perMinute bucket for an hour. A monotonic clock
  // (performance.now) or clamping `t - last` at 0 avoids it.
  it('BUG: a clock stepping backwards does not drain the bucket', () => {
    const clock = fakeClock(10_000_000)
    const bucket = TokenBucket.perMinute(10, clock.now)
    clock.set(10_000_000 - 3600_000) // wall clock corrected by one hour
    clock.advance(60_000) // a minute later a full bucket's worth should be back
    assert.equal(drain(bucket), 10)
  })
})

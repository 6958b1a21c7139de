// Bounded memory of recent values, for the server's per-report work that keeps meeting the
// same inputs: every report of a host repeats its listen addresses, every report about a
// remote its addresses and relays (docs/ARCHITECTURE.md, "Storing reports").

/**
 * A map of at most `2 × generationSize` entries, in two generations: new entries go into the
 * current one; when it is full it becomes the old one and the one before is dropped. An entry
 * found in the old generation moves to the current one, so what keeps being used stays.
 * Cheaper than a strict LRU (no reordering on every hit), and as good for a hot set smaller
 * than a generation.
 */
export class RecentMap<V> {
  private current = new Map<string, V>()
  private old = new Map<string, V>()

  constructor(private readonly generationSize: number) {
    if (generationSize < 1) throw new RangeError('a map of recent values needs a generation size ≥ 1')
  }

  get(key: string): V | undefined {
    const value = this.current.get(key)
    if (value !== undefined) return value
    const aged = this.old.get(key)
    if (aged !== undefined) this.set(key, aged)
    return aged
  }

  set(key: string, value: V): void {
    if (this.current.size >= this.generationSize && !this.current.has(key)) {
      this.old = this.current
      this.current = new Map()
    }
    this.current.set(key, value)
  }

  delete(key: string): void {
    this.current.delete(key)
    this.old.delete(key)
  }

  /** Entries held (both generations; an entry may be in both for a while). */
  get size(): number {
    return this.current.size + this.old.size
  }
}

/**
 * Remembers what a pure function of some bytes returned, so that the same bytes arriving again
 * cost a map lookup instead of the computation. Bytes longer than `maxKeyBytes` are computed
 * every time, so that a flood of long values cannot fill memory. Only results are remembered:
 * an input that throws throws again each time.
 */
export class BoundedMemo<V> {
  private readonly recent: RecentMap<V>

  constructor(
    private readonly compute: (bytes: Uint8Array) => V,
    generationSize: number,
    private readonly maxKeyBytes: number,
  ) {
    this.recent = new RecentMap(generationSize)
  }

  get(bytes: Uint8Array): V {
    if (bytes.byteLength > this.maxKeyBytes) return this.compute(bytes)
    // One char per byte: the cheapest exact string key for bytes.
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    let value = this.recent.get(key)
    if (value === undefined) {
      value = this.compute(bytes)
      this.recent.set(key, value)
    }
    return value
  }

  get size(): number {
    return this.recent.size
  }
}

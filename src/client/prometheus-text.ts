// The client's own metrics in Prometheus' text format (version 0.0.4): counters, gauges and
// one histogram, kept as plain numbers. prom-client and what it loads (OpenTelemetry's API
// among them) cost the long-running client about 4.5 MiB before /metrics is ever asked for
// (docs/FOOTPRINT.md), so it is loaded only for the process figures, when /metrics is first
// scraped (metrics.ts).

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

type Labels<L extends string> = Partial<Record<L, string | number>>

export interface Metric {
  /** The metric's lines of the exposition, its HELP and TYPE first. */
  render(): string
}

abstract class LabelledValues<L extends string> implements Metric {
  protected readonly values = new Map<string, number>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly labelNames: readonly L[] = [],
  ) {}

  protected key(labels: Labels<L> | undefined): string {
    return labelText(this.labelNames.map((name) => [name, labels?.[name]]))
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`]
    // An unlabelled metric shows 0 before anything happened, as prom-client did.
    if (this.values.size === 0 && this.labelNames.length === 0) lines.push(`${this.name} 0`)
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`)
    return lines.join('\n')
  }
}

export class Counter<L extends string = never> extends LabelledValues<L> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, 'counter', labelNames)
  }

  /** `inc()`, `inc(5)`, `inc({ outcome: 'SUCCESS' })`, `inc({ reason: 'private' }, 2)`. */
  inc(labels?: Labels<L> | number, by = 1): void {
    const [given, amount] = typeof labels === 'number' ? [undefined, labels] : [labels, by]
    const key = this.key(given)
    this.values.set(key, (this.values.get(key) ?? 0) + amount)
  }
}

export class Gauge extends LabelledValues<never> {
  constructor(name: string, help: string) {
    super(name, help, 'gauge')
  }

  set(value: number): void {
    this.values.set('', value)
  }
}

export class Histogram implements Metric {
  private readonly counts: number[]
  private sum = 0
  private count = 0

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0)
  }

  observe(value: number): void {
    this.sum += value
    this.count++
    for (const [i, bound] of this.buckets.entries()) if (value <= bound) this.counts[i]!++
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`]
    for (const [i, bound] of this.buckets.entries())
      lines.push(`${this.name}_bucket{le="${bound}"} ${this.counts[i]}`)
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`)
    lines.push(`${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`)
    return lines.join('\n')
  }
}

/** The exposition of `metrics`, each block separated by a newline, ending in one. */
export function renderMetrics(metrics: readonly Metric[]): string {
  return metrics.map((m) => `${m.render()}\n`).join('')
}

/** `{a="1",b="x"}`, or '' without labels; a label not given is left out. */
function labelText(pairs: readonly [string, string | number | undefined][]): string {
  const given = pairs.filter(([, v]) => v !== undefined)
  if (given.length === 0) return ''
  return `{${given.map(([k, v]) => `${k}="${escapeLabelValue(String(v))}"`).join(',')}}`
}

/** Label values escape backslash, double quote and line feed (the format's rule). */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

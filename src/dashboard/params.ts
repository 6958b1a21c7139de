// Validation of the JSON endpoints' query parameters: a typo or a bad value is a 400 that
// says what was wrong, never a silently different answer.
import { InvalidParameterError, parseTimeRange, type TimeRange } from './time-range.js'

/** The query of one request, checked against the parameters its endpoint knows. */
export class QueryParams {
  private readonly values = new Map<string, string>()

  constructor(search: URLSearchParams, allowed: readonly string[]) {
    for (const [name, value] of search) {
      if (!allowed.includes(name))
        throw new InvalidParameterError(
          `unknown parameter ${JSON.stringify(name)}${allowed.length === 0 ? ' (this endpoint takes none)' : ` (known: ${allowed.join(', ')})`}`,
        )
      if (this.values.has(name)) throw new InvalidParameterError(`${name} is given more than once`)
      this.values.set(name, value)
    }
  }

  range(now: Date): TimeRange {
    return parseTimeRange(this.values.get('since'), this.values.get('until'), now)
  }

  /** A whole number in [1, max]; `fallback` when absent. */
  limit(fallback: number, max: number): number {
    const text = this.values.get('limit')
    if (text === undefined) return fallback
    if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > max)
      throw new InvalidParameterError(`limit: ${JSON.stringify(text)} is not a whole number from 1 to ${max}`)
    return Number(text)
  }

  /** One of `choices`; required. */
  choice<T extends string>(name: string, choices: readonly T[]): T {
    const text = this.values.get(name)
    if (text === undefined)
      throw new InvalidParameterError(`${name} is required (one of ${choices.join(', ')})`)
    if (!(choices as readonly string[]).includes(text))
      throw new InvalidParameterError(`${name}: ${JSON.stringify(text)} is not one of ${choices.join(', ')}`)
    return text as T
  }
}

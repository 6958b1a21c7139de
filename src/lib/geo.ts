import { createReadStream } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import maxmind, { type Reader, type Response } from 'maxmind'
import { logger } from './logger.js'
import { isPublicIp, parseIPv4, parseIPv6, unmapIPv4 } from './multiaddr.js'

const log = logger('geo')

/** Country (ISO 3166-1 alpha-2) and autonomous system of an IP; null when unknown or private. */
export interface GeoInfo {
  country: string | null
  asn: number | null
}

/**
 * Offline country and ASN lookup, once per new public address (docs/PROTOCOL.md, "Storage"; the
 * data sources: docs/adr/0002-offline-geo-data.md).
 *
 * `lookup` is synchronous so it can run inside row-building code (e.g. the `GeoResolver` of
 * src/db/multi-addresses.ts); call `await ready()` once at startup first. `ready()` opens the
 * country MMDB and loads the ASN CSVs; it rejects if a data file cannot be read. A `lookup`
 * before `ready()` has finished starts the loading, logs a warning, and returns nulls for
 * whatever is not loaded yet. `lookup` never throws: a bad or private IP gives nulls.
 */
export interface GeoLookup {
  ready(): Promise<void>
  lookup(ip: string): GeoInfo
  /** Drops the loaded data (~18 MB: MMDB buffer and ASN tables) so it can be garbage collected. */
  close(): void
}

/** Data file locations; the defaults are the files shipped in the @ip-location-db packages. */
export interface GeoFiles {
  countryMmdb: string
  asnIPv4Csv: string
  asnIPv6Csv: string
}

const NO_GEO: GeoInfo = Object.freeze({ country: null, asn: null })

export function defaultGeoFiles(): GeoFiles {
  const require = createRequire(import.meta.url)
  const countryDir = dirname(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/package.json'))
  const asnDir = dirname(require.resolve('@ip-location-db/asn/package.json'))
  return {
    countryMmdb: join(countryDir, 'geo-whois-asn-country.mmdb'),
    asnIPv4Csv: join(asnDir, 'asn-ipv4-num.csv'),
    asnIPv6Csv: join(asnDir, 'asn-ipv6-num.csv'),
  }
}

export function createGeoLookup(files: GeoFiles = defaultGeoFiles()): GeoLookup {
  let country: Reader<Response> | null = null
  let asnV4: AsnTableV4 | null = null
  let asnV6: AsnTableV6 | null = null
  let loading: Promise<void> | null = null
  let warnedEarly = false

  const load = async (): Promise<void> => {
    const started = performance.now()
    ;[country, asnV4, asnV6] = await Promise.all([
      maxmind.open<Response>(files.countryMmdb),
      loadAsnTableV4(files.asnIPv4Csv),
      loadAsnTableV6(files.asnIPv6Csv),
    ])
    log.info(
      { ms: Math.round(performance.now() - started), asnIPv4Ranges: asnV4.size, asnIPv6Ranges: asnV6.size },
      'geo data loaded',
    )
  }

  const ready = (): Promise<void> => {
    loading ??= load()
    return loading
  }

  const lookup = (ip: string): GeoInfo => {
    if (loading === null && !warnedEarly) {
      warnedEarly = true
      log.warn('geo lookup before ready(); loading now, early lookups return nulls')
      ready().catch((err: unknown) => log.error({ err }, 'loading geo data failed'))
    }
    try {
      return lookupIn(ip, country, asnV4, asnV6)
    } catch (err) {
      // Defensive: the readers should not throw for a validated IP, but a lookup must never
      // take down the request that triggered it.
      log.warn({ err, ip }, 'geo lookup failed')
      return NO_GEO
    }
  }

  const close = (): void => {
    country = null
    asnV4 = null
    asnV6 = null
  }

  return { ready, lookup, close }
}

function lookupIn(
  ip: string,
  country: Reader<Response> | null,
  asnV4: AsnTableV4 | null,
  asnV6: AsnTableV6 | null,
): GeoInfo {
  if (typeof ip !== 'string' || !isPublicIp(ip)) return NO_GEO
  // The databases index ::ffff:a.b.c.d only under its IPv4 form.
  const addr = unmapIPv4(ip) ?? ip
  const v4 = parseIPv4(addr)
  const asn = v4 !== null ? (asnV4?.lookup(v4) ?? null) : (asnV6?.lookup(parseIPv6(addr)!) ?? null)
  return { country: countryCode(country?.get(addr) ?? null), asn }
}

/* ---------- country (MMDB) ---------- */

// The geo-whois-asn-country MMDB does not follow the MaxMind schema of `Response`: its records
// are shaped `{ country_code: 'US' }`, so the record is inspected rather than typed.
function countryCode(record: unknown): string | null {
  const code = typeof record === 'object' && record !== null ? Reflect.get(record, 'country_code') : undefined
  return typeof code === 'string' && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null
}

/* ---------- ASN (CSV ranges, binary search) ---------- */

/*
 * No ASN MMDB is installable here, so the @ip-location-db/asn CSVs (`start,end,asn,"org"`,
 * inclusive numeric ranges sorted by start) are loaded into typed arrays and binary searched.
 * Measured on the 2026-06-17 data (412k IPv4 + 103k IPv6 rows, Node 22, this container):
 * the IPv4 file loads in ~0.42 s and the IPv6 file in ~0.26 s; `ready()` (both CSVs plus the
 * 7.8 MB MMDB, in parallel) takes ~0.65 s. The packed tables hold ~9.7 MB of ArrayBuffers
 * (IPv4 3 × 1.6 MB Uint32Array; IPv6 4 × 0.8 MB BigUint64Array + 0.4 MB Uint32Array), heap
 * growth after GC is ~1 MB, and the transient heap peak while reading is ~55 MB. A lookup
 * takes ~3 µs (IPv4) / ~9 µs (IPv6, BigInt arithmetic): fine for once per new address.
 */

/** An ASN table for IPv4; IPs are unsigned 32-bit numbers. */
export interface AsnTableV4 {
  readonly size: number
  lookup(ip: number): number | null
}

/** An ASN table for IPv6; IPs are 128-bit bigints. */
export interface AsnTableV6 {
  readonly size: number
  lookup(ip: bigint): number | null
}

interface CsvRow {
  start: string
  end: string
  asn: number
}

/** Loads `asn-ipv4-num.csv` (or a file of the same format). */
export async function loadAsnTableV4(file: string): Promise<AsnTableV4> {
  const starts: number[] = []
  const ends: number[] = []
  const asns: number[] = []
  const stats = await readRanges(file, (row) => {
    const start = Number(row.start)
    const end = Number(row.end)
    if (!isUint32(start) || !isUint32(end) || end < start) return 'bad'
    const last = starts.length - 1
    if (last >= 0 && start <= starts[last]!) return 'unsorted'
    const clipped = last >= 0 && start <= ends[last]!
    if (clipped) ends[last] = start - 1
    starts.push(start)
    ends.push(end)
    asns.push(row.asn)
    return clipped ? 'clipped' : 'ok'
  })
  logStats(file, stats)
  // Rows are collected in plain arrays (row count unknown up front) and packed at the end.
  return tableV4(Uint32Array.from(starts), Uint32Array.from(ends), Uint32Array.from(asns))
}

/** Loads `asn-ipv6-num.csv` (or a file of the same format). */
export async function loadAsnTableV6(file: string): Promise<AsnTableV6> {
  const starts: bigint[] = []
  const ends: bigint[] = []
  const asns: number[] = []
  const stats = await readRanges(file, (row) => {
    const start = parseUint128(row.start)
    const end = parseUint128(row.end)
    if (start === null || end === null || end < start) return 'bad'
    const last = starts.length - 1
    if (last >= 0 && start <= starts[last]!) return 'unsorted'
    const clipped = last >= 0 && start <= ends[last]!
    if (clipped) ends[last] = start - 1n
    starts.push(start)
    ends.push(end)
    asns.push(row.asn)
    return clipped ? 'clipped' : 'ok'
  })
  logStats(file, stats)
  // 128-bit bounds are packed as high/low 64-bit halves: BigUint64Arrays are far smaller
  // than keeping an array of BigInt objects.
  const [startHi, startLo] = split128(starts)
  const [endHi, endLo] = split128(ends)
  return tableV6(startHi, startLo, endHi, endLo, Uint32Array.from(asns))
}

function split128(values: readonly bigint[]): [hi: BigUint64Array, lo: BigUint64Array] {
  const hi = new BigUint64Array(values.length)
  const lo = new BigUint64Array(values.length)
  values.forEach((v, i) => {
    hi[i] = v >> 64n
    lo[i] = v & MASK64
  })
  return [hi, lo]
}

function tableV4(starts: Uint32Array, ends: Uint32Array, asns: Uint32Array): AsnTableV4 {
  return {
    size: starts.length,
    lookup(ip) {
      const i = lastAtOrBelow(starts.length, (k) => starts[k]! <= ip)
      return i >= 0 && ip <= ends[i]! ? usableAsn(asns[i]!) : null
    },
  }
}

function tableV6(
  startHi: BigUint64Array,
  startLo: BigUint64Array,
  endHi: BigUint64Array,
  endLo: BigUint64Array,
  asns: Uint32Array,
): AsnTableV6 {
  return {
    size: startHi.length,
    lookup(ip) {
      const i = lastAtOrBelow(startHi.length, (k) => join128(startHi[k]!, startLo[k]!) <= ip)
      return i >= 0 && ip <= join128(endHi[i]!, endLo[i]!) ? usableAsn(asns[i]!) : null
    },
  }
}

/** Index of the last row for which `atOrBelow` holds (rows sorted by start), or -1. */
function lastAtOrBelow(length: number, atOrBelow: (index: number) => boolean): number {
  let lo = 0
  let hi = length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (atOrBelow(mid)) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

// Reserved and private-use ASNs (RFC 7607, 6793, 5398, 6996, 7300) appear in the data for
// unannounced space; they identify no network, so they are reported as unknown.
function usableAsn(asn: number): number | null {
  const reserved =
    asn === 0 || asn === 23456 || (asn >= 64496 && asn <= 65551) || (asn >= 4200000000 && asn <= 4294967295)
  return reserved ? null : asn
}

type RowResult = 'ok' | 'bad' | 'unsorted' | 'clipped'
type RowStats = Record<RowResult, number>

/**
 * Streams the CSV line by line. Only the first three fields are needed; they are never
 * quoted, so the (possibly quoted, comma-containing) organisation name is simply ignored.
 */
async function readRanges(file: string, onRow: (row: CsvRow) => RowResult): Promise<RowStats> {
  const stats: RowStats = { ok: 0, bad: 0, unsorted: 0, clipped: 0 }
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  await new Promise<void>((resolve, reject) => {
    // readline re-emits stream errors (e.g. ENOENT) on the interface.
    lines.once('error', reject)
    lines.on('line', (line) => {
      if (line === '') return
      const row = parseCsvRow(line)
      stats[row === null ? 'bad' : onRow(row)]++
    })
    lines.once('close', resolve)
  })
  return stats
}

function parseCsvRow(line: string): CsvRow | null {
  const c1 = line.indexOf(',')
  const c2 = line.indexOf(',', c1 + 1)
  if (c1 <= 0 || c2 <= c1 + 1) return null
  const c3 = line.indexOf(',', c2 + 1)
  const asn = Number(line.slice(c2 + 1, c3 === -1 ? undefined : c3))
  if (!isUint32(asn)) return null
  return { start: line.slice(0, c1), end: line.slice(c1 + 1, c2), asn }
}

function logStats(file: string, stats: RowStats): void {
  if (stats.bad + stats.unsorted > 0) log.warn({ file, ...stats }, 'skipped rows in ASN data')
  // Overlapping ranges are expected occasionally (one in the 2026-06 IPv4 data).
  else log.debug({ file, ...stats }, 'ASN data read')
}

/* ---------- numbers ---------- */

const MASK64 = (1n << 64n) - 1n
const MAX128 = (1n << 128n) - 1n

function join128(hi: bigint, lo: bigint): bigint {
  return (hi << 64n) | lo
}

function parseUint128(text: string): bigint | null {
  if (!/^\d{1,39}$/.test(text)) return null
  const value = BigInt(text)
  return value <= MAX128 ? value : null
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff
}

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  createGeoLookup,
  defaultGeoFiles,
  type GeoLookup,
  loadAsnTableV4,
  loadAsnTableV6,
} from '../../src/lib/geo.js'
import { parseIPv4, parseIPv6 } from '../../src/lib/multiaddr.js'

describe('GeoLookup with the shipped databases', () => {
  let geo: GeoLookup
  before(async () => {
    geo = createGeoLookup()
    await geo.ready()
  })
  after(() => geo.close())

  // Expected values checked by hand against the shipped 2026-06-17 data (the MMDB and the
  // asn-ipv4/ipv6 CSVs). 11.0.0.1 is real public space (US DoD), used by the NAT lab.
  const cases: [string, string | null, number | null][] = [
    ['8.8.8.8', 'US', 15169],
    ['1.1.1.1', 'AU', 13335],
    ['9.9.9.9', 'US', 19281],
    ['11.0.0.1', 'US', 749],
    ['2001:4860:4860::8888', 'US', 15169],
    ['2606:4700:4700::1111', 'US', 13335],
    ['2a00:1450:4001::1', 'IE', 15169],
    ['::ffff:8.8.8.8', 'US', 15169],
  ]
  for (const [ip, country, asn] of cases) {
    it(`${ip} → ${country} AS${asn}`, () => {
      assert.deepEqual(geo.lookup(ip), { country, asn })
    })
  }

  const none = [
    '10.0.0.1',
    '100.64.0.1',
    '127.0.0.1',
    '192.168.1.1',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:192.168.1.1',
    '2001:db8::1',
    '',
    'garbage',
    '8.8.8',
    '8.8.8.8.8',
    '999.1.1.1',
    '2001:4860:4860::8888::1',
    '/ip4/8.8.8.8',
  ]
  for (const ip of none) {
    it(`${JSON.stringify(ip)} → nulls`, () => {
      assert.deepEqual(geo.lookup(ip), { country: null, asn: null })
    })
  }

  it('never throws for values that are not even strings', () => {
    assert.deepEqual(geo.lookup(undefined as unknown as string), { country: null, asn: null })
    assert.deepEqual(geo.lookup(42 as unknown as string), { country: null, asn: null })
  })
})

describe('GeoLookup lifecycle', () => {
  it('returns nulls before ready() and answers once loaded', async () => {
    const geo = createGeoLookup()
    assert.deepEqual(geo.lookup('8.8.8.8'), { country: null, asn: null })
    await geo.ready()
    assert.deepEqual(geo.lookup('8.8.8.8'), { country: 'US', asn: 15169 })
    geo.close()
    assert.deepEqual(geo.lookup('8.8.8.8'), { country: null, asn: null })
  })

  it('ready() rejects when a data file is missing', async () => {
    const geo = createGeoLookup({ ...defaultGeoFiles(), asnIPv6Csv: '/nonexistent/asn-ipv6-num.csv' })
    await assert.rejects(geo.ready(), /ENOENT/)
  })
})

describe('ASN CSV loading', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-geo-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, text: string): string => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }
  const v4 = (ip: string): number => parseIPv4(ip)!
  const v6 = (ip: string): bigint => parseIPv6(ip)!

  it('parses IPv4 rows with quoted organisation names, gaps and overlaps', async () => {
    const file = write(
      'v4.csv',
      [
        `${v4('1.0.0.0')},${v4('1.0.0.255')},13335,"Cloudflare, Inc."`,
        `${v4('2.0.0.0')},${v4('2.0.0.255')},201907,"LLC ""SPUTNIK"""`,
        'not,a,row',
        `${v4('3.0.0.0')},${v4('3.0.255.255')},749,DoD`,
        // Overlaps the previous range: the previous one is clipped to end before it.
        `${v4('3.0.128.0')},${v4('3.1.0.255')},721,DoD NIC`,
        `${v4('4.0.0.0')},${v4('4.0.0.255')},4294967294,AS4294967294`,
        `${v4('5.0.0.0')},${v4('5.0.0.255')},64512`,
        '',
      ].join('\r\n'),
    )
    const table = await loadAsnTableV4(file)
    assert.equal(table.size, 6)
    const cases: [string, number | null][] = [
      ['0.255.255.255', null],
      ['1.0.0.0', 13335],
      ['1.0.0.255', 13335],
      ['1.0.1.0', null],
      ['2.0.0.7', 201907],
      ['3.0.127.255', 749],
      ['3.0.128.0', 721],
      ['3.1.0.255', 721],
      ['3.1.1.0', null],
      ['4.0.0.1', null], // private-use ASN
      ['5.0.0.1', null], // private-use ASN
      ['255.255.255.255', null],
    ]
    for (const [ip, asn] of cases) assert.equal(table.lookup(v4(ip)), asn, ip)
  })

  it('parses 128-bit IPv6 rows', async () => {
    const file = write(
      'v6.csv',
      [
        `${v6('2001::')},${v6('2001::ffff:ffff:ffff:ffff:ffff:ffff')},6939,Hurricane Electric LLC`,
        `${v6('2001:4860::')},${v6('2001:4860:ffff:ffff:ffff:ffff:ffff:ffff')},15169,"Google, LLC"`,
        `${v6('ffff::')},${(1n << 128n) - 1n},64496,Documentation`,
        `${v6('2a00::')},${1n << 128n},1,Out of range`,
      ].join('\n'),
    )
    const table = await loadAsnTableV6(file)
    assert.equal(table.size, 3)
    const cases: [string, number | null][] = [
      ['2000::1', null],
      ['2001::1', 6939],
      ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', 6939],
      ['2001:1::', null],
      ['2001:4860:4860::8888', 15169],
      ['2001:4861::', null],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null], // documentation ASN
    ]
    for (const [ip, asn] of cases) assert.equal(table.lookup(v6(ip)), asn, ip)
  })

  it('loads the shipped tables completely', async () => {
    const files = defaultGeoFiles()
    const [t4, t6] = await Promise.all([loadAsnTableV4(files.asnIPv4Csv), loadAsnTableV6(files.asnIPv6Csv)])
    // Every line of the shipped files is a usable row (counts of the 2026-06-17 data; they
    // only need updating when the package is updated).
    assert.ok(t4.size > 400_000, `IPv4 rows: ${t4.size}`)
    assert.ok(t6.size > 100_000, `IPv6 rows: ${t6.size}`)
    assert.equal(t4.lookup(v4('215.0.0.1')), 721) // inside the one overlapping pair
    assert.equal(t4.lookup(v4('214.255.255.255')), 749)
  })
})

// What the client tells about the home router, in NetworkInformation.router_login_html. The
// original Go client sent the router's whole login page there (HTTP GET of http://<gateway>/):
// owner names, SSIDs, e-mail addresses, whatever the vendor shows before login. We send a
// fingerprint instead: a small JSON text whose first key marks it
// (`{"format":"punchr-router-fingerprint/1",…`), so a reader never takes it for a page. It keeps
// the status, the Server header, the page title, the WWW-Authenticate realm, names from a fixed
// list of vendors and model numbers next to them, and a hash of the body: nothing else of the
// page, no cookies, no other headers.
//
// The router is untrusted (anything on the LAN can answer at the gateway's address): one
// deadline for the whole probe, at most `maxBytes` of body, headers within 16 KiB, at most 3
// redirects and only to the router itself, every kept text cut and stripped of control
// characters, and no regular expression that can go quadratic on a hostile page.
import { createHash } from 'node:crypto'
import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http'
import { boundedText } from '../lib/text.js'
import { findDefaultGateway } from './default-gateway.js'

export const ROUTER_FINGERPRINT_FORMAT = 'punchr-router-fingerprint/1'
/** How every fingerprint text starts. */
export const ROUTER_FINGERPRINT_PREFIX = `{"format":"${ROUTER_FINGERPRINT_FORMAT}"`
/**
 * A fingerprint stays below this many bytes of UTF-8 by construction: ~180 bytes of keys, title
 * 120 UTF-16 units (≤ 360 bytes), Server and realm 80 latin1 characters each (≤ 160 bytes),
 * ≤ 12 vendor names (≤ 220), ≤ 5 models of ≤ 40 characters (≤ 215), the hash and numbers (~80).
 */
export const MAX_FINGERPRINT_BYTES = 2048

const DEFAULT_PORT = 80
const DEFAULT_TIMEOUT_MS = 3_000
const DEFAULT_MAX_BYTES = 256 * 1024
const MAX_REDIRECTS = 3
const MAX_HEADER_BYTES = 16 * 1024
const MAX_TITLE_CHARS = 120
const MAX_HEADER_TEXT_CHARS = 80
const MAX_VENDORS = 12
const MAX_MODELS = 5
const MAX_MODEL_CHARS = 40
const MAX_ERROR_CHARS = 200
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
/** The abort reason of our own deadline, to tell it from the caller's signal. */
const TIMEOUT = Symbol('router probe timeout')

export type RouterProbeResult = { fingerprint: string } | { error: string }

export interface RouterFingerprint {
  format: typeof ROUTER_FINGERPRINT_FORMAT
  status: number
  server: string | null
  title: string | null
  vendors: string[]
  models: string[]
  authRealm: string | null
  bodySha256: string
  bodyBytes: number
  truncated: boolean
}

/** What the router answered, as read: the body at most `maxBytes`. */
export interface RouterResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Uint8Array
  /** The body went on beyond what we read (the byte limit, the deadline, or a hang-up). */
  truncated: boolean
}

export interface RouterProbeOptions {
  /** The router's address; the default gateway of /proc/net/route when absent. */
  gateway?: string
  /** @default 80 */
  port?: number
  /** For the whole probe, redirects included. @default 3000 */
  timeoutMs?: number
  /** Body bytes read at most; the rest is not read. @default 256 KiB */
  maxBytes?: number
  signal?: AbortSignal
}

// ── the probe ──────────────────────────────────────────────────────────────────────────────

/** GETs http://<gateway>:<port>/ and fingerprints the answer. Never throws. */
export async function probeRouter(options: RouterProbeOptions = {}): Promise<RouterProbeResult> {
  const { port = DEFAULT_PORT, timeoutMs = DEFAULT_TIMEOUT_MS, maxBytes = DEFAULT_MAX_BYTES } = options
  if (options.signal?.aborted) return { error: 'aborted' }
  let host = options.gateway
  if (host === undefined) {
    const found = await findDefaultGateway()
    if ('error' in found) return found
    host = found.gateway
  }
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(TIMEOUT), timeoutMs)
  const stop = () => deadline.abort(options.signal?.reason)
  options.signal?.addEventListener('abort', stop, { once: true })
  try {
    return await follow(host, where, port, maxBytes, deadline.signal)
  } catch (err) {
    if (deadline.signal.reason === TIMEOUT) return { error: `timeout after ${timeoutMs} ms (${where})` }
    if (deadline.signal.aborted) return { error: 'aborted' }
    return { error: describeError(err, where) }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', stop)
  }
}

/** GET /, then up to MAX_REDIRECTS redirects that stay on `host` and plain HTTP. */
async function follow(
  host: string,
  where: string,
  firstPort: number,
  maxBytes: number,
  signal: AbortSignal,
): Promise<RouterProbeResult> {
  const base = new URL(`http://${where}/`)
  let target = { port: firstPort, path: '/' }
  for (let redirects = 0; ; redirects++) {
    const res = await get(host, target.port, target.path, maxBytes, signal)
    const location = REDIRECT_STATUSES.has(res.status) ? res.headers.location : undefined
    if (location === undefined) {
      const fp = fingerprintResponse(res)
      if (fp.bodyBytes === 0 && fp.server === null && fp.authRealm === null) {
        return { error: `HTTP ${res.status} without body (${where})` }
      }
      return { fingerprint: formatFingerprint(fp) }
    }
    if (redirects === MAX_REDIRECTS) return { error: `too many redirects (more than ${MAX_REDIRECTS})` }
    let next: URL
    try {
      next = new URL(location, new URL(target.path, `http://${base.hostname}:${target.port}/`))
    } catch {
      return { error: `HTTP ${res.status} redirect to an invalid Location` }
    }
    // Only the router itself: a redirect elsewhere must not make us fetch another machine.
    if (next.hostname !== base.hostname) {
      return { error: `HTTP ${res.status} redirect to another host not followed` }
    }
    if (next.protocol !== 'http:') {
      const what = next.protocol === 'https:' ? 'HTTPS' : 'a non-HTTP URL'
      return { error: `HTTP ${res.status} redirect to ${what} not followed` }
    }
    target = { port: next.port === '' ? DEFAULT_PORT : Number(next.port), path: next.pathname + next.search }
  }
}

/** One GET; the body read up to `maxBytes`, then the connection is closed. */
function get(
  host: string,
  port: number,
  path: string,
  maxBytes: number,
  signal: AbortSignal,
): Promise<RouterResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    let response: IncomingMessage | undefined
    const settle = (res: IncomingMessage, truncated: boolean) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated })
    // Our deadline passing or the router hanging up while the body arrives leaves a partial
    // page, still worth its fingerprint; the caller's abort and errors before the headers fail.
    const fail = (err: unknown) => {
      if (response === undefined || (signal.aborted && signal.reason !== TIMEOUT)) reject(err)
      else settle(response, true)
    }
    const req = request(
      {
        host,
        port,
        path,
        method: 'GET',
        agent: false,
        signal,
        maxHeaderSize: MAX_HEADER_BYTES,
        headers: { accept: 'text/html,*/*;q=0.8', 'user-agent': 'punchr-router-probe/1' },
      },
      (res) => {
        response = res
        res.on('error', () => undefined) // 'close' follows and decides
        if (REDIRECT_STATUSES.has(res.statusCode ?? 0) && res.headers.location !== undefined) {
          settle(res, false) // a redirect's body is not read
          req.destroy()
          return
        }
        res.on('data', (chunk: Buffer) => {
          const room = maxBytes - bytes
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room))
            bytes = maxBytes
            settle(res, true)
            req.destroy() // stop reading: the router may send forever
            return
          }
          chunks.push(chunk)
          bytes += chunk.length
        })
        res.on('end', () => settle(res, false))
        res.on('close', () => fail(new Error('connection closed during the body')))
      },
    )
    req.on('error', fail)
    req.end()
  })
}

function describeError(err: unknown, where: string): string {
  const code = errorCode(err)
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connect timeout',
    EADDRNOTAVAIL: 'address not available',
  }
  if (code !== undefined && Object.hasOwn(known, code)) return `${known[code]} (${where})`
  if (code?.startsWith('HPE_')) return `invalid HTTP response (${where}, ${oneLine(code)})`
  const message = err instanceof Error ? err.message : String(err)
  return oneLine(`${code === undefined ? '' : `${code}: `}${message} (${where})`)
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** An error text as we report it: one line, bounded. */
function oneLine(text: string): string {
  return clean(text, MAX_ERROR_CHARS) ?? 'error'
}

// ── the fingerprint ────────────────────────────────────────────────────────────────────────

/** The fingerprint of a response; pure. */
export function fingerprintResponse(res: RouterResponse): RouterFingerprint {
  const latin1 = /charset\s*=\s*"?(?:iso-8859-1|latin-?1|windows-1252)\b/i.test(
    headerText(res.headers['content-type']) ?? '',
  )
  const body = Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength)
  const html = body.toString(latin1 ? 'latin1' : 'utf8')
  const serverHeader = headerText(res.headers.server)
  const server = serverHeader === undefined ? null : clean(serverHeader, MAX_HEADER_TEXT_CHARS)
  const authRealm = realmOf(headerText(res.headers['www-authenticate']))
  const title = titleOf(html)
  // The title is entity-decoded, the headers are not in the body: all four are searched.
  const sources = [title ?? '', server ?? '', authRealm ?? '', html]
  return {
    format: ROUTER_FINGERPRINT_FORMAT,
    status: res.status,
    server,
    title,
    vendors: VENDORS.filter(([, pattern]) => sources.some((s) => s.search(pattern) !== -1))
      .map(([name]) => name)
      .slice(0, MAX_VENDORS),
    models: modelsIn(sources),
    authRealm,
    bodySha256: createHash('sha256').update(body).digest('hex'),
    bodyBytes: body.length,
    truncated: res.truncated,
  }
}

/** The fingerprint as sent in router_login_html: JSON with `format` first. */
export function formatFingerprint(fp: RouterFingerprint): string {
  const { format, status, server, title, vendors, models, authRealm, bodySha256, bodyBytes, truncated } = fp
  return JSON.stringify({
    format,
    status,
    server,
    title,
    vendors,
    models,
    authRealm,
    bodySha256,
    bodyBytes,
    truncated,
  })
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * C0/C1 controls (NUL included), bidi and zero-width format characters, BOM and lone
 * surrogates: nothing a reader needs, some of it able to mislead one or break storage.
 */
const UNWANTED = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFEFF\uD800-\uDFFF]/gu

/** Whitespace collapsed, unwanted characters dropped, at most `max` characters; null when empty. */
function clean(text: string, max: number): string | null {
  const collapsed = text
    .slice(0, max * 8) // enough for `max` after collapsing, and no long work on a long text
    .replace(/\s+/g, ' ')
    .replace(UNWANTED, '')
    .replace(/ {2,}/g, ' ')
    .trim()
  const bounded = boundedText(collapsed, max).trimEnd()
  return bounded === '' ? null : bounded
}

/** The text of the first <title>, entity-decoded and cleaned, or null. */
function titleOf(html: string): string | null {
  // Bounded quantifiers: no `[^>]*` that a page of `<title` without `>` could make quadratic.
  const open = /<title\b[^>]{0,200}>/i.exec(html)
  if (open === null) return null
  const start = open.index + open[0].length
  const rest = html.slice(start, start + MAX_TITLE_CHARS * 16)
  const end = rest.search(/<\/title[\s>]/i)
  return clean(decodeEntities(end === -1 ? rest : rest.slice(0, end)), MAX_TITLE_CHARS)
}

const NAMED_ENTITIES = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ['nbsp', ' '],
])

/** The basic named entities and numeric ones; a numeric one that is no character is dropped. */
function decodeEntities(text: string): string {
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,6});/g, (whole, name: string) => {
    if (!name.startsWith('#')) return NAMED_ENTITIES.get(name.toLowerCase()) ?? whole
    const hex = name[1] === 'x' || name[1] === 'X'
    const cp = Number.parseInt(name.slice(hex ? 2 : 1), hex ? 16 : 10)
    return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : ''
  })
}

function realmOf(header: string | undefined): string | null {
  const m = header === undefined ? null : /\brealm\s*=\s*(?:"([^"]*)|([^\s,]*))/i.exec(header)
  return m === null ? null : clean(m[1] ?? m[2] ?? '', MAX_HEADER_TEXT_CHARS)
}

/**
 * Vendors and products of home routers and their firmware, as reported, with how each is
 * recognised. Only these names leave the client, never the text they were found in.
 */
const VENDORS: readonly (readonly [string, RegExp])[] = [
  ['FRITZ!Box', /\bFRITZ!\s?Box\b/gi],
  ['AVM', /\bAVM\b/g],
  ['TP-Link', /\bTP-?LINK\b/gi],
  ['NETGEAR', /\bNETGEAR\b/gi],
  ['Netgear Orbi', /\bOrbi\b/g],
  ['ASUS', /\bASUS(?:WRT)?\b/gi],
  ['Linksys', /\bLinksys\b/gi],
  ['D-Link', /\bD-?Link\b/gi],
  ['Huawei', /\bHuawei\b/gi],
  ['ZTE', /\bZTE\b/g],
  ['Technicolor', /\bTechnicolor\b/gi],
  ['Sagemcom', /\bSagem(?:com)?\b/gi],
  ['Zyxel', /\bZyXEL\b/gi],
  ['MikroTik', /\bMikroTik\b|\bRouterOS\b/gi],
  ['Ubiquiti', /\bUbiquiti\b|\bUniFi\b|\bEdgeRouter\b/gi],
  ['OpenWrt', /\bOpenWrt\b/gi],
  ['LuCI', /\bLuCI\b/g],
  ['DD-WRT', /\bDD-WRT\b/gi],
  ['Tomato', /\b(?:Fresh)?Tomato\b/g],
  ['pfSense', /\bpfSense\b/gi],
  ['OPNsense', /\bOPNsense\b/gi],
  ['Speedport', /\bSpeedport\b/gi],
  ['Vodafone', /\bVodafone\b/gi],
  ['EasyBox', /\bEasyBox\b/gi],
  ['Livebox', /\bLivebox\b/gi],
  ['Freebox', /\bFreebox\b/gi],
  ['Bbox', /\bBbox\b/g],
  ['Google Wifi', /\b(?:Google|Nest) ?Wi-?Fi\b/gi],
  ['eero', /\beero\b/gi],
  ['Synology', /\bSynology\b/gi],
  ['Arcadyan', /\bArcadyan\b/gi],
  ['Actiontec', /\bActiontec\b/gi],
  ['Arris', /\bARRIS\b/gi],
  ['Hitron', /\bHitron\b/gi],
  ['Cisco', /\bCisco\b/gi],
  ['Xfinity', /\bXfinity\b/gi],
  ['DrayTek', /\bDrayTek\b/gi],
  ['Sky', /\bSky(?: Broadband| ?Hub)\b/gi],
  ['BT Hub', /\bBT (?:Smart |Home ?)?Hub\b/gi],
  ['Starlink', /\bStarlink\b/gi],
  ['Keenetic', /\bKeenetic\b/gi],
  ['Tenda', /\bTenda\b/gi],
  ['Xiaomi', /\bXiaomi\b|\bMiWiFi\b/gi],
  ['Mercusys', /\bMercusys\b/gi],
  ['Belkin', /\bBelkin\b/gi],
  ['Buffalo', /\bBUFFALO\b|\bAirStation\b/g],
  ['Sercomm', /\bSercomm\b/gi],
  ['Compal', /\bCompal\b/gi],
  ['Nokia', /\bNokia\b/gi],
  ['Fortinet', /\bFortinet\b|\bFortiGate\b/gi],
]

/**
 * A model number: a few letters, digits, a short suffix ("7590", "C7", "R7000", "RT-AC68U",
 * "DIR-615", "VMG8825-T50"). Deliberately narrow: what follows a vendor name may be a name the
 * owner chose ("FRITZ!Box AliceNet-5G" as an SSID), and that must not pass as a model.
 */
const MODEL = /^(?:[A-Z]{1,4}-)?[A-Z]{0,4}[0-9]{1,5}[A-Z0-9]{0,4}(?:-[A-Z0-9]{1,4})?$/i
/** Product-line words that may stand between a vendor name and the model number ("Archer C7"). */
const FAMILIES = new Set([
  ...'archer deco nighthawk orbi smart home hub router gateway velop lyra'.split(' '),
  ...'zenwifi vigor livebox easybox cube mesh pro plus box'.split(' '),
])

/** "<vendor as written> [family words] <model>" found right after a vendor name, at most MAX_MODELS. */
function modelsIn(sources: readonly string[]): string[] {
  const found = new Map<string, string>() // lower case → as found
  for (const source of sources) {
    for (const [, pattern] of VENDORS) {
      for (const m of source.matchAll(pattern)) {
        const after = m.index + m[0].length
        const model = modelAfter(m[0], source.slice(after, after + 80))
        if (model !== undefined && !found.has(model.toLowerCase())) found.set(model.toLowerCase(), model)
        if (found.size === MAX_MODELS) return [...found.values()]
      }
    }
  }
  return [...found.values()]
}

function modelAfter(vendor: string, after: string): string | undefined {
  if (!/^\s/.test(after)) return undefined
  const words: string[] = []
  for (const word of after.trimStart().split(/\s+/, 3)) {
    const token = /^[A-Za-z0-9._+-]*/.exec(word)![0].replace(/[._+-]+$/, '')
    if (MODEL.test(token)) {
      const model = [vendor.replace(/\s+/g, ' '), ...words, token].join(' ')
      return model.replace(/[^A-Za-z0-9 !._+-]/g, '').slice(0, MAX_MODEL_CHARS)
    }
    if (token !== word || !FAMILIES.has(token.toLowerCase())) return undefined
    words.push(token)
  }
  return undefined
}

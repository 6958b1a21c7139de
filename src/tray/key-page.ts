// "Set API key…": the helper's menus have no text input, so the tray serves a one-field form
// on 127.0.0.1 and opens it in the browser, which every desktop has (zenity or kdialog would
// cover Linux only, and not every Linux desktop). The form is for this user only:
// - it listens on loopback only, on a port the OS picks;
// - its path holds a random token that only the tray's URL knows (another local page cannot
//   guess it, so it cannot post a key of its choosing: CSRF);
// - the Host header must name the loopback address and port (a DNS-rebound name is refused);
// - a POST from another origin is refused, and the page may not be framed or cached.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../lib/logger.js'

/** Keys are tokens; a pasted key with spaces around it is trimmed, anything else odd refused. */
const KEY_PATTERN = /^[\x21-\x7e]{8,256}$/

const MAX_BODY = 4096

export interface KeyPage {
  /** The form's URL, token included. */
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves the form; `store` keeps a submitted key and says what happens next, or throws with
 * a message for the page.
 */
export async function startKeyPage(store: (key: string) => Promise<string>, log: Logger): Promise<KeyPage> {
  const token = randomBytes(24).toString('base64url')
  const path = `/${token}/`
  let port = 0
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.warn({ err }, 'API key page failed')
      if (!res.headersSent) send(res, 500, page('Something went wrong', 'The tray could not answer.'))
    })
  })

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!loopbackHost(req.headers.host, port)) return send(res, 403, page('Refused', 'Wrong host.'))
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`)
    if (url.pathname !== path) return send(res, 404, page('Not found', 'This page is not here.'))
    if (req.method === 'GET') return send(res, 200, form(''))
    if (req.method !== 'POST') return send(res, 405, page('Refused', 'Only GET and POST.'))
    const origin = req.headers.origin
    if (origin !== undefined && origin !== 'null' && !loopbackOrigin(origin, port))
      return send(res, 403, page('Refused', 'The form was sent from another site.'))
    const body = await readBody(req)
    if (body === undefined) return send(res, 413, page('Refused', 'Too much data.'))
    const key = (new URLSearchParams(body).get('key') ?? '').trim()
    if (!KEY_PATTERN.test(key))
      return send(res, 400, form('That does not look like an API key (8 to 256 characters, no spaces).'))
    let outcome: string
    try {
      outcome = await store(key)
    } catch (err) {
      log.warn({ err }, 'storing the API key failed')
      return send(
        res,
        500,
        form(`The key was not stored: ${err instanceof Error ? err.message : String(err)}`),
      )
    }
    log.info('API key stored')
    return send(res, 200, page('API key stored', outcome))
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function loopbackHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`
}

function loopbackOrigin(origin: string, port: number): boolean {
  return origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  })
  res.end(html)
}

function form(error: string): string {
  const message = error === '' ? '' : `<p class="error">${escapeHtml(error)}</p>`
  return page(
    'Set API key',
    `<p>The key the punchr client reports with. It is stored in the client's key file, readable by you only.</p>
${message}<form method="post" autocomplete="off">
<input name="key" type="password" size="40" autofocus required aria-label="API key">
<button type="submit">Store</button>
</form>`,
    false,
  )
}

function page(title: string, body: string, bodyIsText = true): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>punchr: ${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}.error{color:#b00}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${bodyIsText ? `<p>${escapeHtml(body)}</p>` : body}
</body></html>
`
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

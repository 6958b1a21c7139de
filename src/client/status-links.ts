// The links of the status page: the server's dashboard, and its "my results" view of this
// client's API key. The dashboard reads the key from the URL fragment only (`#key=…`), which a
// browser never sends to any server, so following the link does not put the key in a request
// line, a proxy log or a Referer.
import { ConfigError } from '../lib/errors.js'
import { serverUrl } from './api-client.js'

/**
 * `punchr server`'s default `--http-port`, where its dashboard is. The client cannot import
 * the server's flags (the architecture test forbids client → server), so a unit test checks
 * that the two agree.
 */
export const DEFAULT_SERVER_HTTP_PORT = 10001

/**
 * `--dashboard-url`: undefined (not given) derives it from `--server`: the same host on the
 * server's default HTTP port, https with `--tls`; '' means no dashboard; anything else must be
 * an http(s) URL, whose trailing slash, query and fragment are dropped.
 */
export function dashboardUrl(flag: string | undefined, server: string, tls: boolean): string | null {
  if (flag === undefined) {
    const api = new URL(serverUrl(server, tls))
    return `${api.protocol}//${api.hostname}:${DEFAULT_SERVER_HTTP_PORT}`
  }
  const text = flag.trim()
  if (text === '') return null
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(`--dashboard-url must be an http(s) URL, got ${JSON.stringify(flag)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`--dashboard-url must be an http(s) URL, got ${JSON.stringify(flag)}`)
  if (url.username !== '' || url.password !== '')
    throw new ConfigError('--dashboard-url must not carry a user name or password')
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/** The dashboard's view of the results of `apiKey`: `<dashboard>/#key=<key>`. */
export function myResultsUrl(dashboard: string | null, apiKey: string): string | null {
  return dashboard === null ? null : `${dashboard}/#key=${encodeURIComponent(apiKey)}`
}

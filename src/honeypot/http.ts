// The honeypot's HTTP endpoint: `/metrics` (Prometheus) and `/healthz` (JSON, 200 when the
// node runs and the database answers, else 503).
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Reply {
  status: number
  contentType: string
  body: string
}

export interface HttpEndpoint {
  readonly port: number
  close(): Promise<void>
}

/** Serves `routes` (path → reply) on host:port; port 0 picks a free one. */
export async function serveRoutes(
  host: string,
  port: number,
  routes: Record<string, () => Promise<Reply>>,
): Promise<HttpEndpoint> {
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname]
    const replied = route === undefined ? Promise.resolve(notFound) : route()
    void replied
      .catch((err: unknown) => ({
        status: 500,
        contentType: 'text/plain',
        body: `${err instanceof Error ? err.message : String(err)}\n`,
      }))
      .then((reply) => {
        res.writeHead(reply.status, { 'content-type': reply.contentType })
        res.end(reply.body)
      })
  })
  server.listen(port, host)
  await once(server, 'listening') // rejects on 'error', e.g. EADDRINUSE
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

const notFound: Reply = { status: 404, contentType: 'text/plain', body: 'not found\n' }

export function json(status: number, value: unknown): Reply {
  return { status, contentType: 'application/json', body: JSON.stringify(value) }
}

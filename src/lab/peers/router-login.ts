// A home router's web interface for the lab, run in a router's network namespace: the page a
// client fetches from its default gateway (src/client/router-probe.ts fingerprints it). Serves
// the login page of src/lab/router-login-page.ts on GET / and /login.html, with the header
// `Server: punchr-lab-router/1`. Prints `{"ready": true, "url", "title", "server"}` once it
// listens.
//
//   node router-login.js --ip 10.0.1.1 [--port 80] [--redirect]
//
// --redirect: GET / answers 302 to /login.html, as many routers do. --port 0 takes a free port
// (the ready line's url has it).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { LAB_ROUTER_SERVER, LAB_ROUTER_TITLE, labRouterLoginPage } from '../router-login-page.js'
import { aborted, intOption, parseOptions, printLine, required, runProgram } from './program.js'

const USAGE = 'router-login --ip <LAN IPv4> [--port 80] [--redirect]'

runProgram('lab-router-login', async ({ log, signal, onCleanup }) => {
  const opts = parseOptions(USAGE, {
    ip: { type: 'string' },
    port: { type: 'string' },
    redirect: { type: 'boolean' },
  })
  const ip = required(opts.ip, 'ip', USAGE)
  const port = intOption(opts.port, 'port', 80, 0, 65535)
  const page = Buffer.from(labRouterLoginPage())

  const server = createServer((req, res) => {
    log.info({ method: req.method, url: req.url, from: req.socket.remoteAddress }, 'request')
    res.setHeader('Server', LAB_ROUTER_SERVER)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end()
    } else if (req.url === '/' && opts.redirect === true) {
      res.writeHead(302, { Location: '/login.html' }).end()
    } else if (req.url === '/' || req.url === '/login.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length })
      res.end(req.method === 'HEAD' ? undefined : page)
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, ip, () => {
      server.off('error', reject)
      resolve()
    })
  })
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  const bound = (server.address() as AddressInfo).port
  const ready = {
    ready: true,
    url: `http://${ip}:${bound}/`,
    title: LAB_ROUTER_TITLE,
    server: LAB_ROUTER_SERVER,
  }
  printLine(ready)
  log.info(ready, 'router login page ready')
  await aborted(signal)
})

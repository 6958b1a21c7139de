// The peer uid of real loopback connections (src/client/loopback-peer-uid.ts), read from this
// machine's /proc/net/tcp and /proc/net/tcp6: a connection of this process is ours, over IPv4
// and over IPv6 (where the machine has ::1); one from a process of another user (root
// only: setpriv starts one as nobody) is that user's. The tables' parsing and the doubtful
// cases are unit tests (test/unit/loopback-peer-uid.test.ts).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { after, describe, it } from 'node:test'
import { isOwnUserPeer, loopbackPeerUid } from '../../src/client/loopback-peer-uid.js'
import { NOBODY, nodeForNobody, spawnNodeAsNobody } from '../support/as-nobody.js'
import { hasIpv6Loopback } from '../support/ipv6.js'

const nobody = nodeForNobody()
const LINUX = existsSync('/proc/net/tcp')

/** What the server learnt of its first connection, asked while that connection is open. */
interface Looked {
  uid: number | undefined
  own: boolean
}

/** A server on `host` that looks up the peer of each connection, then says "x" and waits for the close. */
async function lookupServer(host: string): Promise<{ port: number; next: Promise<Looked>; close(): void }> {
  let resolve!: (looked: Looked) => void
  const next = new Promise<Looked>((r) => {
    resolve = r
  })
  const server = net.createServer((socket) => {
    // A peer gone before our "x" is no failure of the lookup.
    socket.on('error', () => undefined)
    void (async () => {
      const uid = await loopbackPeerUid(socket.remotePort!, socket.localPort!)
      const own = await isOwnUserPeer(socket.remotePort, socket.localPort)
      resolve({ uid, own })
      socket.end('x')
    })()
  })
  await new Promise<void>((r) => server.listen(0, host, r))
  return {
    port: (server.address() as net.AddressInfo).port,
    next,
    close: () => server.close(),
  }
}

describe('loopback peer uid of real sockets', {
  skip: LINUX ? false : 'no /proc/net/tcp (not Linux)',
}, () => {
  const servers: { close(): void }[] = []
  after(() => {
    for (const s of servers) s.close()
  })

  for (const host of ['127.0.0.1', '::1']) {
    it(`a connection of this process to ${host} is ours`, async (t) => {
      if (host === '::1' && !(await hasIpv6Loopback())) return t.skip('no ::1 here')
      const server = await lookupServer(host)
      servers.push(server)
      const socket = net.connect(server.port, host)
      socket.on('data', () => socket.end())
      const closed = new Promise((r) => socket.once('close', r))
      const looked = await server.next
      await closed
      assert.equal(looked.uid, process.getuid!())
      assert.equal(looked.own, process.getuid!() !== NOBODY)
    })
  }

  it("a connection from another user's process is that user's, not ours", {
    skip: 'skip' in nobody ? nobody.skip : false,
  }, async () => {
    const server = await lookupServer('127.0.0.1')
    servers.push(server)
    const script = `const s = require('node:net').connect(${server.port}, '127.0.0.1'); s.on('data', () => s.end()); setTimeout(() => process.exit(3), 10000).unref()`
    const child = spawnNodeAsNobody((nobody as { node: string }).node, script, 'ignore')
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const exited = new Promise<number | null>((r) => child.once('exit', r))
    const looked = await Promise.race([
      server.next,
      exited.then((code) => {
        throw new Error(`the process as nobody exited (${code}) before connecting: ${stderr}`)
      }),
    ])
    assert.deepEqual(looked, { uid: NOBODY, own: false })
    assert.equal(await exited, 0, stderr)
  })
})

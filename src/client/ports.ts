// Port picking for the hosts. Each host listens on one port and dials from another (Node
// cannot connect from a port it listens on, docs/PROTOCOL.md, "js-libp2p behaviours the code works around"); all are taken from the
// OS at once, each held until all are known, so that no two of them coincide.
import net from 'node:net'

/** `count` distinct TCP ports that were free on `host` a moment ago. */
export async function freePorts(host: string, count: number): Promise<number[]> {
  const servers: net.Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => resolve())
      })
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}

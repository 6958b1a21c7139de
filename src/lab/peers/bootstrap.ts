// A DHT bootstrap peer for the lab's internet: a Kademlia server (`/ipfs/kad/1.0.0`, the
// public IPFS DHT's protocol) with identify and ping, the entry point the honeypot and the
// remotes are given. Prints `{"ready": true, "peerId", "addrs"}` once it listens.
//
//   node bootstrap.js --ip 11.0.0.4 [--ip6 2600:11::4] [--quic] [--port 4001] [--key bootstrap.key]
//
// --quic: also QUIC v1 on the same port number. A go remote keeps one connection per peer and
// learns its public address on a path from the peer it reaches on it (a dual-stack lab gives it
// one bootstrap peer per path: test/interop/go-remote).
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { loadOrCreateKey } from './identity.js'
import { pinoComponentLogger } from './libp2p-logger.js'
import { aborted, intOption, parseOptions, printLine, required, runProgram } from './program.js'
import { publicNodeOptions } from './util.js'

const USAGE = 'bootstrap --ip <public IPv4> [--ip6 <public IPv6>] [--quic] [--port 4001] [--key <file>]'

runProgram('lab-bootstrap', async ({ log, signal, onCleanup }) => {
  const opts = parseOptions(USAGE, {
    ip: { type: 'string' },
    ip6: { type: 'string' },
    quic: { type: 'boolean' },
    port: { type: 'string' },
    key: { type: 'string' },
  })
  const port = intOption(opts.port, 'port', 4001, 1, 65535)
  const ips = [
    `/ip4/${required(opts.ip, 'ip', USAGE)}`,
    ...(opts.ip6 === undefined ? [] : [`/ip6/${opts.ip6}`]),
  ]
  const addrs = [
    ...ips.map((ip) => `${ip}/tcp/${port}`),
    ...(opts.quic === true ? ips.map((ip) => `${ip}/udp/${port}/quic-v1`) : []),
  ]
  const node = await createLibp2p({
    privateKey: await loadOrCreateKey(opts.key),
    ...publicNodeOptions(addrs),
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false }),
    },
    logger: pinoComponentLogger(log, ['libp2p:kad-dht']),
  })
  onCleanup(() => node.stop())
  node.addEventListener('peer:identify', (e) =>
    log.info(
      {
        peer: e.detail.peerId.toString(),
        agentVersion: e.detail.agentVersion,
        listenAddrs: e.detail.listenAddrs.map(String),
      },
      'identified',
    ),
  )
  const ready = { ready: true, peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) }
  printLine(ready)
  log.info(ready, 'bootstrap peer ready')
  await aborted(signal)
})

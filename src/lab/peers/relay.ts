// A circuit relay v2 server for the lab's internet: reservations, identify (which tells every
// peer the address it is seen from, the NAT mapping that DCUtR advertises) and ping, on TCP
// and QUIC v1 (the same port number). Prints `{"ready": true, "peerId", "addrs"}` once it
// listens, the TCP address first.
//
//   node relay.js --ip 11.0.0.2 [--ip6 2600:11::2] [--port 4001] [--key relay.key]
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Connection, PeerId } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { isRelayAddr } from '../../lib/multiaddr.js'
import { isQuicAddress } from '../../quic/multiaddr.js'
import { loadOrCreateKey } from './identity.js'
import { pinoComponentLogger } from './libp2p-logger.js'
import { aborted, intOption, parseOptions, printLine, required, runProgram } from './program.js'
import { publicNodeOptions } from './util.js'

const USAGE =
  'relay --ip <public IPv4> [--ip6 <public IPv6>] [--port 4001] [--key <file>] [--max-reservations 1024] ' +
  '[--duration-limit-s 3600] [--data-limit-mib 1024]'

runProgram('lab-relay', async ({ log, signal, onCleanup }) => {
  const opts = parseOptions(USAGE, {
    ip: { type: 'string' },
    ip6: { type: 'string' },
    port: { type: 'string' },
    key: { type: 'string' },
    'max-reservations': { type: 'string' },
    'duration-limit-s': { type: 'string' },
    'data-limit-mib': { type: 'string' },
  })
  const ip = required(opts.ip, 'ip', USAGE)
  const port = intOption(opts.port, 'port', 4001, 1, 65535)
  const node = await createLibp2p({
    privateKey: await loadOrCreateKey(opts.key),
    ...publicNodeOptions([
      `/ip4/${ip}/tcp/${port}`,
      `/ip4/${ip}/udp/${port}/quic-v1`,
      ...(opts.ip6 === undefined
        ? []
        : [`/ip6/${opts.ip6}/tcp/${port}`, `/ip6/${opts.ip6}/udp/${port}/quic-v1`]),
    ]),
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: intOption(opts['max-reservations'], 'max-reservations', 1024, 1, 1_000_000),
          // Relayed connections stay limited, as on the real network, but no test runs into the
          // limits: the defaults (2 min, 128 KiB) could cut a slow failing round short.
          applyDefaultLimit: true,
          defaultDurationLimit:
            intOption(opts['duration-limit-s'], 'duration-limit-s', 3600, 1, 86_400) * 1000,
          defaultDataLimit:
            BigInt(intOption(opts['data-limit-mib'], 'data-limit-mib', 1024, 1, 1_048_576)) * 1024n * 1024n,
        },
      }),
    },
    logger: pinoComponentLogger(log, ['libp2p:circuit-relay:server']),
  })
  onCleanup(() => node.stop())

  const describe = (c: Connection) => ({
    peer: c.remotePeer.toString(),
    remoteAddr: c.remoteAddr.toString(),
    direction: c.direction,
    relayed: isRelayAddr(c.remoteAddr),
  })
  node.addEventListener('connection:open', (e) => log.info(describe(e.detail), 'connection open'))
  node.addEventListener('connection:close', (e) => log.info(describe(e.detail), 'connection closed'))
  node.services.relay.addEventListener('relay:reservation', (e) =>
    log.info({ addr: e.detail.addr.toString(), expiry: e.detail.expiry }, 'reservation'),
  )

  const peerId: PeerId = node.peerId
  // TCP first: callers that want one address take the first.
  const addrs = node.getMultiaddrs().sort((a, b) => Number(isQuicAddress(a)) - Number(isQuicAddress(b)))
  printLine({ ready: true, peerId: peerId.toString(), addrs: addrs.map(String) })
  log.info({ peerId: peerId.toString(), addrs: addrs.map(String) }, 'relay ready')
  await aborted(signal)
})

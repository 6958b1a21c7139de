// Every TCP dial of a measuring host must leave from one fixed source port P: the relay then
// observes P (through the NAT), that observed address goes into our CONNECT, and the punch
// reuses exactly that NAT mapping (docs/PROTOCOL.md, "js-libp2p behaviours the code works around"). @libp2p/tcp 11 spreads
// its `dialOpts` into `net.connect()` (tcp.js `_connect`), whose `localPort` binds the socket
// before connecting; libuv sets SO_REUSEADDR on it, so concurrent dials from P to different
// destinations coexist. P must differ from the listen port: Node cannot connect from a port it
// listens on. A quick redial from P to the same destination can fail with EADDRNOTAVAIL while
// the previous connection's 4-tuple sits in TIME_WAIT.
import type { TCPOptions } from '@libp2p/tcp'

/**
 * `dialOpts` for `tcp()` that make every dial leave from `localPort` (and `localAddress`, when
 * given). The option is missing from @libp2p/tcp's `TCPSocketOptions` type, hence the cast.
 */
export function fixedPortDialOpts(localPort: number, localAddress?: string): TCPOptions['dialOpts'] {
  if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
    throw new RangeError(`fixed dial port must be 1-65535, got ${localPort}`)
  }
  const opts: { localPort: number; localAddress?: string } = { localPort }
  if (localAddress !== undefined) opts.localAddress = localAddress
  return opts as TCPOptions['dialOpts']
}

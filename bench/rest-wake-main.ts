// `npm run bench -- --rest-wake`: a leak check of resting and waking alone, without the NAT lab.
// One measuring host (TCP and QUIC, src/client/host.ts) bootstraps from a js-libp2p peer on
// 127.0.0.1, then rests and wakes again and again (each wake a whole bootstrap: dials on every
// path, identify, the observed address). The V8 heap in use after a forced GC is printed every
// so many cycles: a leak of the rest/wake path shows as a heap that climbs with the cycles.
// In the lab's rest phase (bench/client-main.ts) the same growth would hide among the RSS
// swings of a whole client; here nothing else runs. The process runs with the client's V8 and
// malloc settings (src/cli/client-runtime.ts): with Node's defaults, TurboFan's code for the
// functions it optimises one after the other would pile up in the heap for the first thousand
// cycles. Prints a table; writes no document.
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CLIENT_NODE_FLAGS, CLIENT_RUNTIME_ENV } from '../src/cli/client-runtime.js'
import { MeasuringHost } from '../src/client/host.js'
import { freePorts } from '../src/client/ports.js'
import { quicTransport } from '../src/quic/transport.js'
import { benchFlags, positiveNumber } from './args.js'

const USAGE = `npm run bench -- --rest-wake [--cycles 400] [--every 50]

  --cycles   rest/wake cycles of the host (default 400)
  --every    cycles between two heap readings (default 50)`

const values = benchFlags(
  { 'rest-wake': { type: 'boolean' }, cycles: { type: 'string' }, every: { type: 'string' } },
  USAGE,
)
const cycles = Math.round(positiveNumber(values.cycles, 400, '--cycles', USAGE))
const every = Math.round(positiveNumber(values.every, 50, '--every', USAGE))
// bench/run.ts re-executed this process with the client's settings before loading this module,
// as `punchr client` does; where it could not (no process.execve), Node's defaults are said.
const settings =
  process.env[CLIENT_RUNTIME_ENV] === 'applied'
    ? `with the client's V8 flags (${CLIENT_NODE_FLAGS.join(' ')})`
    : "with Node's defaults (the client's settings could not be applied)"
v8.setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const peer = await createLibp2p({
  privateKey: await generateKeyPair('Ed25519'),
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/quic-v1'] },
  transports: [tcp(), quicTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() },
})
const [dialPort] = await freePorts('127.0.0.1', 1)
const host = await MeasuringHost.create({
  privateKey: await generateKeyPair('Ed25519'),
  agentVersion: 'punchr/bench-rest-wake',
  listenHost: '127.0.0.1',
  listenPort: 0,
  dialPort: dialPort!,
})
const rows: string[] = []
let failedWakes = 0
try {
  const first = await host.bootstrap(peer.getMultiaddrs())
  console.log(
    `bootstrapped: ${first.connected.length} connections, ${first.observed.length} observed addresses; ${cycles} rest/wake cycles …`,
  )
  const reading = (cycle: number) => {
    gc()
    gc()
    const { heapUsed, rss } = process.memoryUsage()
    rows.push(
      `| ${cycle} | ${(heapUsed / 2 ** 20).toFixed(2)} MiB | ${(rss / 2 ** 20).toFixed(0)} MiB | ${host.node.getConnections().length} |`,
    )
    console.log(rows.at(-1))
  }
  reading(0)
  for (let cycle = 1; cycle <= cycles; cycle++) {
    host.rest()
    // Let the aborted connections' close events run, as between two rounds.
    await new Promise((resolve) => setTimeout(resolve, 20))
    await host.wake().catch(() => failedWakes++)
    if (cycle % every === 0) reading(cycle)
  }
} finally {
  await host.stop()
  await peer.stop()
}

console.log(
  `\nRest/wake cycles of one measuring host (TCP and QUIC) on 127.0.0.1, ${settings}; ${failedWakes} wakes failed\n`,
)
console.log('| cycles | V8 heap used after GC | RSS | open connections |')
console.log('|--:|--:|--:|--:|')
for (const row of rows) console.log(row)

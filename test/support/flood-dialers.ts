// The load of the honeypot flood test, from a worker thread: the dialers' Noise handshakes
// run on the other core, and the test thread's heap holds the honeypot alone. A small pool of
// identities connects again and again (a quarter of the connections closes at once, most
// before the honeypot's identify; the rest stay 10–40 ms), fresh identities connect once
// each; all advertise DCUtR and a relay address only. Then every identity connects once more
// and holds that connection until the test releases it.
import { setTimeout as sleep } from 'node:timers/promises'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { relayAddr, visitor } from './dht.js'

export interface FloodPlan {
  /** The honeypot's address with /p2p/. */
  target: string
  relayId: string
  pool: number
  connectionsPerPoolPeer: number
  fresh: number
}

export interface FloodResult {
  opened: number
  /** Dials that failed (refused at a limit, reset mid-handshake). */
  failed: number
  seconds: number
  /** Every identity that took part; each now holds one open connection. */
  peerIds: string[]
}

export interface Flood {
  result: FloodResult
  /** Closes the held connections and stops the dialers. */
  release(): Promise<void>
}

/** Runs the flood in a worker; resolves once every identity holds its last connection. */
export async function flood(plan: FloodPlan): Promise<Flood> {
  const worker = new Worker(new URL(import.meta.url), { workerData: plan })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const result = await new Promise<FloodResult>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  return {
    result,
    release: async () => {
      worker.postMessage('release')
      await exited
    },
  }
}

async function runInWorker(plan: FloodPlan): Promise<void> {
  const target = multiaddr(plan.target)
  const dialer = (n: number) => visitor({ quiet: true, announce: [relayAddr(plan.relayId, 1 + (n % 200))] })
  const nodes: Libp2p[] = await Promise.all(Array.from({ length: plan.pool }, (_, i) => dialer(i)))
  let opened = 0
  let failed = 0
  const connectOnce = async (peer: Libp2p, i: number) => {
    try {
      const connection = await peer.dial(target)
      opened++
      if (i % 4 !== 0) await sleep(10 + (i % 31))
      await connection.close()
    } catch {
      failed++
    }
  }
  const started = performance.now()
  await Promise.all([
    ...nodes.map(async (peer) => {
      for (let i = 0; i < plan.connectionsPerPoolPeer; i++) await connectOnce(peer, i)
    }),
    (async () => {
      for (let i = 0; i < plan.fresh; i++) {
        const peer = await dialer(plan.pool + i)
        nodes.push(peer)
        await connectOnce(peer, i)
      }
    })(),
  ])
  const seconds = (performance.now() - started) / 1000
  const held = await Promise.all(nodes.map((peer) => peer.dial(target)))
  const released = new Promise<void>((resolve) => parentPort!.once('message', () => resolve()))
  parentPort!.postMessage({ opened, failed, seconds, peerIds: nodes.map((n) => n.peerId.toString()) })
  await released
  await Promise.all(held.map((c) => c.close()))
  await Promise.all(nodes.map((n) => n.stop()))
  parentPort!.close()
}

if (!isMainThread && (workerData as Partial<FloodPlan> | null)?.target !== undefined) {
  await runInWorker(workerData as FloodPlan)
}

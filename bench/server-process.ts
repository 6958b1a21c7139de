// A `punchr server` in a process of its own, for the benchmarks that run the server as users
// do (--load, --replicas): started through the CLI, sampled for CPU and memory while it lives.
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sleep } from '../src/client/backoff.js'
import { ResourceSampler, type ResourceUsage, readProc } from '../src/lab/campaign/resources.js'

/** Linux's USER_HZ: /proc counts CPU time in these. */
const CLOCK_TICKS_PER_SECOND = 100

const NODE =
  Number(process.versions.node.split('.')[0]) >= 22
    ? process.execPath
    : fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))
const CLI_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))

/** One run of `punchr server`, sampled for CPU and memory while it lives. */
export class ServerProcess {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  private readonly sampler: ResourceSampler | undefined
  usage: ResourceUsage | undefined

  constructor(args: string[]) {
    // The CLI itself, not bin/punchr.js: under an older Node that wrapper runs it as a child,
    // and a SIGKILL would hit the wrapper and leave the server running.
    this.child = spawn(NODE, [CLI_MAIN, 'server', ...args], {
      env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    this.sampler = this.child.pid === undefined ? undefined : new ResourceSampler(this.child.pid)
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
    void this.exited.then(() => {
      this.usage ??= this.sampler?.stop()
    })
  }

  /** CPU time the process has used so far, in seconds (0 once it is gone). */
  cpuSeconds(): number {
    const proc = this.child.pid === undefined ? undefined : readProc(this.child.pid)
    return proc === undefined ? 0 : proc.cpuTicks / CLOCK_TICKS_PER_SECOND
  }

  /** Samples once more and stops sampling (before the process is stopped: its peak stays). */
  stopSampling(): void {
    this.usage ??= this.sampler?.stop()
  }
}

export async function waitHealthy(httpPort: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the server did not become healthy within ${timeoutMs / 1000} s`)
    await sleep(200)
  }
}

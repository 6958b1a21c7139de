// Starts a lab peer program (relay.js, remote.js, probe.js, compiled next to this file) inside
// a lab node and reads its JSON lines. For the e2e tests now and the campaign runner later.
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { LabNetwork } from '../topology.js'

export type PeerProgram = 'relay' | 'remote' | 'probe'

/** Keep this much of a program's stderr in memory, for error messages. */
const STDERR_TAIL = 16 * 1024

export interface StartPeerOptions {
  /** The Node binary. @default this process's (Node 22, which libp2p 3 needs) */
  node?: string
  /** Extra environment, e.g. `{ PUNCHR_LOG_LEVEL: 'debug' }`. */
  env?: Record<string, string>
  /** A file that gets the program's whole stderr (its logs). */
  logFile?: string
}

/** The compiled program's path. */
export function programPath(program: PeerProgram): string {
  return fileURLToPath(new URL(`./${program}.js`, import.meta.url))
}

/** A running peer program and its stdout JSON lines, read one by one. */
export class PeerProcess {
  readonly child: ChildProcess
  /** Every line printed so far (parsed; a line that is not JSON as `{ raw }`). */
  readonly history: unknown[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly queued: unknown[] = []
  private waiter: ((line: unknown) => void) | undefined
  private tail = ''
  private log: WriteStream | undefined

  constructor(
    lab: LabNetwork,
    readonly nodeName: string,
    readonly program: PeerProgram,
    args: readonly string[],
    options: StartPeerOptions = {},
  ) {
    this.child = lab.spawn(nodeName, options.node ?? process.execPath, [programPath(program), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    })
    if (options.logFile !== undefined) this.log = createWriteStream(options.logFile, { flags: 'a' })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.log?.write(chunk)
      this.tail = (this.tail + chunk.toString()).slice(-STDERR_TAIL)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.take(line))
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.log?.end()
        resolve({ code, signal })
      })
    })
  }

  /** The next JSON line; rejects after `timeoutMs`, or when the program exits first, with its stderr. */
  next(timeoutMs = 10_000): Promise<unknown> {
    if (this.queued.length > 0) return Promise.resolve(this.queued.shift())
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer)
        this.waiter = undefined
        reject(new Error(`${this.program} in ${this.nodeName}: ${why}; stderr tail:\n${this.tail}`))
      }
      const timer = setTimeout(() => fail(`no output within ${timeoutMs} ms`), timeoutMs)
      void this.exited.then(({ code, signal }) => {
        // Lines are read before 'exit' is handled only most of the time: give them a moment.
        setTimeout(() => {
          if (this.waiter !== undefined) fail(`exited (code ${code}, signal ${signal}) before printing`)
        }, 50)
      })
      this.waiter = (line) => {
        clearTimeout(timer)
        resolve(line)
      }
    })
  }

  /** The last STDERR_TAIL bytes of the program's logs. */
  stderr(): string {
    return this.tail
  }

  /** SIGTERM, then the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    await this.exited
  }

  private take(line: string): void {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      value = { raw: line }
    }
    this.history.push(value)
    const waiter = this.waiter
    if (waiter === undefined) this.queued.push(value)
    else {
      this.waiter = undefined
      waiter(value)
    }
  }
}

/** Starts `program` with `args` inside lab node `node`. */
export function startPeer(
  lab: LabNetwork,
  node: string,
  program: PeerProgram,
  args: readonly string[],
  options?: StartPeerOptions,
): PeerProcess {
  return new PeerProcess(lab, node, program, args, options)
}

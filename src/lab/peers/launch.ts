// Starts a process inside a lab node and reads its stdout line by line: the lab peer programs
// (relay.js, remote.js, probe.js, bootstrap.js, router-login.js, compiled next to this file; one
// JSON line each)
// and, for the campaign runner, the punchr CLI itself (plain text lines).
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { LabNetwork } from '../topology.js'

export type PeerProgram = 'relay' | 'remote' | 'probe' | 'bootstrap' | 'router-login'

/** Keep this much of a program's stderr in memory, for error messages. */
const STDERR_TAIL = 16 * 1024

export interface StartPeerOptions {
  /** The Node binary. @default this process's (Node 22, which libp2p 3 needs) */
  node?: string
  /** Extra environment, e.g. `{ PUNCHR_LOG_LEVEL: 'debug' }`. */
  env?: Record<string, string>
  /** A file that gets the program's whole stderr (its logs). */
  logFile?: string
  /** A file that gets the program's whole stdout. */
  stdoutFile?: string
  /** Called with every stdout line as printed (progress output). */
  onLine?: (line: string) => void
}

/** The compiled program's path. */
export function programPath(program: PeerProgram): string {
  return fileURLToPath(new URL(`./${program}.js`, import.meta.url))
}

/** A running program in a lab node and its stdout lines (JSON parsed), read one by one. */
export class PeerProcess {
  readonly child: ChildProcess
  /** Every line printed so far (parsed; a line that is not JSON as `{ raw }`). */
  readonly history: unknown[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly queued: unknown[] = []
  private waiter: ((line: unknown) => void) | undefined
  private tail = ''
  private log: WriteStream | undefined
  private stdoutLog: WriteStream | undefined

  /** Runs `script` (a JavaScript file) with Node; `program` names it in messages. */
  constructor(
    lab: LabNetwork,
    readonly nodeName: string,
    readonly program: string,
    script: string,
    args: readonly string[],
    options: StartPeerOptions = {},
  ) {
    this.child = lab.spawn(nodeName, options.node ?? process.execPath, [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    })
    if (options.logFile !== undefined) this.log = createWriteStream(options.logFile, { flags: 'a' })
    if (options.stdoutFile !== undefined)
      this.stdoutLog = createWriteStream(options.stdoutFile, { flags: 'a' })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.log?.write(chunk)
      this.tail = (this.tail + chunk.toString()).slice(-STDERR_TAIL)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.stdoutLog?.write(`${line}\n`)
      options.onLine?.(line)
      this.take(line)
    })
    // 'close', not 'exit': stderr may still deliver its last chunks after 'exit', and a write
    // to an ended log stream throws.
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.log?.end()
        this.stdoutLog?.end()
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

  /** Reads lines until one satisfies `match`; the deadline covers all of them. */
  async waitFor<T>(what: string, match: (line: unknown) => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.program} in ${this.nodeName}: no ${what} within ${timeoutMs} ms`)
      const found = match(await this.next(left))
      if (found !== undefined) return found
    }
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
  return new PeerProcess(lab, node, program, programPath(program), args, options)
}

// `punchr client` as a child of the tray. A crash or a native (QUIC) fault of the client ends
// the child, not the tray; Stop is the client's own SIGINT path (the running round is reported
// as CANCELLED and the queue flushed), with SIGKILL after a grace period for a stuck child.
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Logger } from '../lib/logger.js'

export type ClientProcessState =
  | { kind: 'idle' }
  | { kind: 'running'; pid: number; since: Date }
  | { kind: 'stopping'; pid: number }
  | {
      kind: 'exited'
      code: number | null
      signal: NodeJS.Signals | null
      /** The tray asked it to stop (Stop, Quit): not an error whatever the code. */
      requested: boolean
      /** The client's last words on stderr, for the error line. */
      lastError: string | undefined
    }

export interface ClientCommand {
  /** The Node binary (process.execPath). */
  node: string
  /** bin/punchr.js. */
  punchrBin: string
  /** The client's flags. */
  args: readonly string[]
  env: Record<string, string | undefined>
}

export class ClientProcess {
  #state: ClientProcessState = { kind: 'idle' }
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #requested = false
  #lastError: string | undefined

  constructor(
    private readonly command: ClientCommand,
    private readonly log: Logger,
    private readonly onChange: (state: ClientProcessState) => void,
  ) {}

  get state(): ClientProcessState {
    return this.#state
  }

  /** Starts the client unless it runs. */
  start(): void {
    if (this.#child !== undefined) return
    const { node, punchrBin, args, env } = this.command
    this.#requested = false
    this.#lastError = undefined
    const child = spawn(node, [punchrBin, 'client', ...args], {
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group (POSIX): a Ctrl-C in the tray's terminal reaches the tray only,
      // which sends the client one SIGINT. Two (the terminal's and the tray's) would make the
      // client exit at once without reporting the running round.
      detached: process.platform !== 'win32',
      windowsHide: true,
    })
    this.#child = child
    this.#exited = new Promise((resolve) => {
      child.once('error', (err) => {
        // spawn failed (no such binary): no 'exit' follows.
        this.#lastError = err.message
        this.#finish(child, null, null)
        resolve()
      })
      child.once('exit', (code, signal) => {
        this.#finish(child, code, signal)
        resolve()
      })
    })
    // The round lines go on to the tray's stdout, the logs to its stderr: `punchr tray` in a
    // terminal shows what `punchr client` would.
    child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk))
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`${line}\n`)
      const said = lastWords(line)
      if (said !== undefined) this.#lastError = said
    })
    if (child.pid !== undefined) {
      this.log.info({ pid: child.pid, args: redact(args) }, 'client started')
      this.#set({ kind: 'running', pid: child.pid, since: new Date() })
    }
  }

  /**
   * SIGINT, then SIGKILL after `graceMs`; resolves once the child is gone. While it is
   * already stopping, just waits.
   */
  async stop(graceMs: number): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.#requested = true
    if (this.#state.kind === 'running') {
      this.log.info({ pid: child.pid }, 'stopping the client (SIGINT)')
      this.#set({ kind: 'stopping', pid: this.#state.pid })
      child.kill('SIGINT')
    }
    const timer = setTimeout(() => {
      this.log.warn({ pid: child.pid, graceMs }, 'the client did not stop in time; SIGKILL')
      child.kill('SIGKILL')
    }, graceMs)
    await this.#exited
    clearTimeout(timer)
  }

  /** For the tray's last moments (an exception, process.exit): a SIGINT, without waiting. */
  signalStop(): void {
    if (this.#child === undefined) return
    this.#requested = true
    this.#child.kill('SIGINT')
  }

  #finish(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return
    this.#child = undefined
    const state: ClientProcessState = {
      kind: 'exited',
      code,
      signal,
      requested: this.#requested,
      lastError: this.#lastError,
    }
    const error = !state.requested && code !== 0
    this.log[error ? 'warn' : 'info']({ code, signal, requested: state.requested }, 'client exited')
    this.#set(state)
  }

  #set(state: ClientProcessState): void {
    this.#state = state
    this.onChange(state)
  }
}

/**
 * What a stderr line says to a person: the client's `punchr client: …` error line as it is,
 * or the message (and error) of a warn/error/fatal JSON log line; info lines say nothing wrong.
 */
export function lastWords(line: string): string | undefined {
  const text = line.trim()
  if (text === '') return undefined
  if (!text.startsWith('{')) return text.replace(/^punchr client: /, '')
  try {
    const entry = JSON.parse(text) as { level?: unknown; msg?: unknown; err?: { message?: unknown } }
    if (typeof entry.level !== 'number' || entry.level < 40) return undefined
    const msg = typeof entry.msg === 'string' ? entry.msg : ''
    const err = typeof entry.err?.message === 'string' ? entry.err.message : ''
    return [msg, err].filter((s) => s !== '').join(': ') || undefined
  } catch {
    return text
  }
}

/** The flags for the log, without the API key. */
function redact(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const flag = SECRET_FLAGS.find((f) => args[i - 1] === f || arg.startsWith(`${f}=`))
    if (flag === undefined) return arg
    return arg.startsWith(`${flag}=`) ? `${flag}=***` : '***'
  })
}

/** Client flags whose value is an API key. */
const SECRET_FLAGS = ['--api-key', '--save-api-key']

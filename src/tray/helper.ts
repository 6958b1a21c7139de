// Speaks systray2's JSON-lines protocol with its Go helper: the helper says {"type":"ready"},
// reads the menu, then takes update-item / update-menu / exit lines and writes
// {"type":"clicked","__id":n}. The tray drives the helper itself rather than through
// systray2's SysTray class, which never reports a helper that dies before "ready" (a missing
// AppIndicator library), spawns it with the parent's environment only (the helper alone
// needs LD_LIBRARY_PATH), exits the Node process in kill(), and names the combined update
// "update-menu-and-item" where the helper expects "update-item-and-menu".
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface, type Interface } from 'node:readline'
import type { MenuItem } from 'systray2'
import type { Logger } from '../lib/logger.js'

/** A menu line as the tray builds it; `id` is the helper's `__id`. */
export type HelperItem =
  | { id: number; separator: true }
  | { id: number; separator?: false; title: string; tooltip: string; enabled: boolean; checked: boolean }

export interface HelperIcon {
  /** base64 of the PNG (ICO on Windows). */
  icon: string
  title: string
  tooltip: string
}

/** systray2's item with the helper's internal id. */
type WireItem = MenuItem & { __id: number }

/** The helper's title of a separator line. */
const SEPARATOR = '<SEPARATOR>'

const STDERR_LINES_KEPT = 20

export interface HelperExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Its last stderr lines (GTK's complaints, the loader's missing library). */
  stderr: string
}

export class TrayHelper {
  readonly exited: Promise<HelperExit>
  #clickListeners: ((id: number) => void)[] = []

  private constructor(
    private readonly child: ChildProcess,
    lines: Interface,
    exited: Promise<HelperExit>,
  ) {
    this.exited = exited
    lines.on('line', (line) => {
      const message = parseLine(line)
      if (message?.type === 'clicked' && typeof message.__id === 'number') {
        for (const listener of this.#clickListeners) listener(message.__id)
      }
    })
  }

  /**
   * Starts `binary` and hands it the menu once it is ready. Rejects when the helper exits
   * first or stays silent for `readyTimeoutMs`, with its stderr in the message.
   */
  static async start(options: {
    binary: string
    env: Record<string, string | undefined>
    icon: HelperIcon
    items: readonly HelperItem[]
    log: Logger
    readyTimeoutMs?: number
  }): Promise<TrayHelper> {
    const { binary, env, icon, items, log } = options
    const child = spawn(binary, [], {
      env: env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    const stderr: string[] = []
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.trim() === '') return
      stderr.push(line)
      if (stderr.length > STDERR_LINES_KEPT) stderr.shift()
      log.debug({ helper: line }, 'tray helper stderr')
    })
    // A broken pipe after the helper died is reported through `exited`.
    child.stdin!.on('error', () => undefined)
    const exited = new Promise<HelperExit>((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, stderr: err.message }))
      child.once('exit', (code, signal) => resolve({ code, signal, stderr: stderr.join('\n') }))
    })
    const lines = createInterface({ input: child.stdout! })
    const ready = new Promise<void>((resolve) => {
      const onLine = (line: string) => {
        if (parseLine(line)?.type !== 'ready') return
        lines.off('line', onLine)
        resolve()
      }
      lines.on('line', onLine)
    })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.readyTimeoutMs ?? 15_000)
    })
    const first = await Promise.race([ready.then(() => 'ready' as const), exited, timeout])
    clearTimeout(timer)
    if (first !== 'ready') {
      child.kill('SIGKILL')
      const why =
        first === 'timeout' ? 'did not say it was ready' : `exited (${first.signal ?? `code ${first.code}`})`
      throw new Error(`the tray helper ${why}${stderr.length > 0 ? `: ${stderr.join('\n')}` : ''}`)
    }
    const helper = new TrayHelper(child, lines, exited)
    helper.#write({ ...icon, items: items.map(wireItem) })
    log.debug({ pid: child.pid }, 'tray helper ready')
    return helper
  }

  onClick(listener: (id: number) => void): void {
    this.#clickListeners.push(listener)
  }

  updateItem(item: HelperItem): void {
    this.#write({ type: 'update-item', item: wireItem(item), seq_id: -1 })
  }

  /** Icon, title and tooltip; the helper leaves the items as they are. */
  updateIcon(icon: HelperIcon): void {
    this.#write({ type: 'update-menu', menu: { ...icon, items: [] } })
  }

  /** Asks the helper to exit (it removes the icon); SIGKILL when it has not after `timeoutMs`. */
  async stop(timeoutMs = 3_000): Promise<void> {
    this.#write({ type: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  #write(message: object): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.stdin!.write(`${JSON.stringify(message)}\n`)
  }
}

function wireItem(item: HelperItem): WireItem {
  if (item.separator === true) return { __id: item.id, title: SEPARATOR, tooltip: '', enabled: true }
  return {
    __id: item.id,
    title: item.title,
    tooltip: item.tooltip,
    enabled: item.enabled,
    checked: item.checked,
    hidden: false,
  }
}

function parseLine(line: string): { type?: unknown; __id?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null ? value : undefined
  } catch {
    return undefined
  }
}

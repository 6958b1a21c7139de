// The tray: the helper's icon and menu, the client child, status.json polling, and what each
// menu line does. Runs until Quit (or SIGINT/SIGTERM/SIGHUP), then stops the client (SIGINT,
// SIGKILL after the grace period) and the helper, and removes its runtime directory.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from '../lib/logger.js'
import { appIndicatorEnv } from './appindicator.js'
import * as autostart from './autostart.js'
import { ClientProcess } from './client-process.js'
import { type HelperItem, TrayHelper } from './helper.js'
import { installHelper } from './helper-binary.js'
import { type KeyPage, startKeyPage } from './key-page.js'
import { changedItems, helperIcon, ITEM, menuItems } from './menu.js'
import { openUrl } from './opener.js'
import { type ClientStatus, fetchStatus, statusPageUrl } from './status.js'
import { type TrayView, trayView } from './view.js'

type Env = Record<string, string | undefined>

export interface TrayOptions {
  /** The Node binary and bin/punchr.js the client and `punchr login` run on. */
  node: string
  punchrBin: string
  /** The client's flags, `--metrics-port` among them. */
  clientArgs: string[]
  /** Flags of `punchr login` that make it store the key where this client reads it. */
  loginArgs: string[]
  /** The client is given its key with --api-key, which wins over the key file. */
  keyOnCommandLine: boolean
  /** The client's metrics port, where status.json is read. */
  metricsPort: number
  /** Start the client at once. */
  startMeasuring: boolean
  statusIntervalMs: number
  stopGraceMs: number
  /** What the login autostart entry runs. */
  autostartCommand: string[]
  env: Env
  platform: NodeJS.Platform
  log: Logger
}

/** Runs the tray until Quit; the exit code. */
export async function runTrayApp(options: TrayOptions): Promise<number> {
  const { env, platform } = options
  const runtimeDir = await mkdtemp(join(tmpdir(), 'punchr-tray-'))
  let client: ClientProcess | undefined
  // Best effort when the tray dies of an exception: the client reports its round and goes.
  const onExit = () => client?.signalStop()
  process.once('exit', onExit)
  try {
    const binary = await installHelper(platform, process.arch, runtimeDir)
    const helperEnv = { ...env, ...(platform === 'linux' ? await appIndicatorEnv(runtimeDir, env) : {}) }
    return await new Tray(options, binary, helperEnv, (c) => (client = c)).run()
  } finally {
    process.off('exit', onExit)
    await rm(runtimeDir, { recursive: true, force: true })
  }
}

class Tray {
  readonly #client: ClientProcess
  readonly #autostartFile: autostart.AutostartFile
  #helper: TrayHelper | undefined
  #status: ClientStatus | undefined
  #statusError: string | undefined
  #items: HelperItem[] = []
  #view: TrayView | undefined
  #keyPage: Promise<KeyPage> | undefined
  #quit: (code: number) => void = () => undefined

  constructor(
    private readonly options: TrayOptions,
    private readonly binary: string,
    private readonly helperEnv: Env,
    exposeClient: (client: ClientProcess) => void,
  ) {
    const { node, punchrBin, clientArgs, env, log } = options
    this.#client = new ClientProcess({ node, punchrBin, args: clientArgs, env }, log, (state) => {
      // A failed read of the previous child's status.json says nothing about this one.
      if (state.kind === 'running') this.#statusError = undefined
      this.#render()
    })
    exposeClient(this.#client)
    this.#autostartFile = autostart.autostartFile(options.platform, env, options.autostartCommand)
  }

  async run(): Promise<number> {
    const { log, platform } = this.options
    const quit = new Promise<number>((resolve) => {
      this.#quit = resolve
    })
    const view = this.#currentView()
    this.#items = menuItems(view, autostart.isEnabled(this.#autostartFile), platform)
    this.#view = view
    this.#helper = await TrayHelper.start({
      binary: this.binary,
      env: this.helperEnv,
      icon: helperIcon(view, platform),
      items: this.#items,
      log,
    })
    log.info({ state: view.icon, headline: view.headline, pid: process.pid }, 'tray ready')
    this.#helper.onClick((id) => {
      this.#onClick(id).catch((err: unknown) => log.error({ err, item: id }, 'menu action failed'))
    })
    let quitting = false
    void this.#helper.exited.then((exit) => {
      if (quitting) return
      log.error(exit, 'the tray helper exited; stopping')
      this.#quit(1)
    })
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'quitting on signal')
      this.#quit(0)
    }
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal)
    const poll = setInterval(() => void this.#poll(), this.options.statusIntervalMs)
    if (this.options.startMeasuring) this.#client.start()

    const code = await quit
    quitting = true
    clearInterval(poll)
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal)
    await this.#client.stop(this.options.stopGraceMs)
    await (await this.#keyPage?.catch(() => undefined))?.close()
    await this.#helper.stop()
    log.info({ code }, 'tray stopped')
    return code
  }

  async #onClick(id: number): Promise<void> {
    const { log, platform, env, metricsPort, stopGraceMs } = this.options
    log.info({ item: id }, 'menu click')
    switch (id) {
      case ITEM.toggle:
        if (this.#client.state.kind === 'running') await this.#client.stop(stopGraceMs)
        else await this.#startClient()
        return
      case ITEM.statusPage:
        if (this.#client.state.kind === 'running') openUrl(statusPageUrl(metricsPort), platform, env, log)
        return
      case ITEM.myResults:
        if (this.#status?.myResultsUrl) openUrl(this.#status.myResultsUrl, platform, env, log)
        return
      case ITEM.apiKey: {
        this.#keyPage ??= startKeyPage((key) => this.#storeKey(key), log)
        openUrl((await this.#keyPage).url, platform, env, log)
        return
      }
      case ITEM.launchOnLogin:
        if (autostart.isEnabled(this.#autostartFile)) await autostart.disable(this.#autostartFile)
        else await autostart.enable(this.#autostartFile)
        log.info(
          { path: this.#autostartFile.path, enabled: autostart.isEnabled(this.#autostartFile) },
          'launch on login changed',
        )
        this.#render()
        return
      case ITEM.quit:
        this.#quit(0)
        return
    }
  }

  /** Starts the client, after the one still stopping is gone. */
  async #startClient(): Promise<void> {
    if (this.#client.state.kind === 'stopping') await this.#client.stop(this.options.stopGraceMs)
    this.#client.start()
  }

  /**
   * `punchr login -` writes the client's key file (mode 0600); the key goes on its stdin, not
   * its command line, which other users can read. A running client, or one that failed (most
   * likely for want of a key), is (re)started to report with the new key. Returns what the
   * page says.
   */
  async #storeKey(key: string): Promise<string> {
    const { node, punchrBin, env, loginArgs } = this.options
    const child = spawn(node, [punchrBin, 'login', '-', ...loginArgs], {
      env: env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'ignore', 'pipe'],
      windowsHide: true,
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(`${key}\n`)
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null))
      child.once('exit', (c) => resolve(c))
    })
    if (code !== 0) {
      const last = stderr
        .trim()
        .split('\n')
        .at(-1)
        ?.replace(/^punchr login: /, '')
      throw new Error(last || `punchr login exited with code ${code}`)
    }
    if (this.options.keyOnCommandLine)
      return 'The key is stored, but this tray gives the client a key with --api-key, which it uses instead: start the tray without --api-key.'
    const state = this.#client.state
    if (state.kind === 'running' || (state.kind === 'exited' && !state.requested && state.code !== 0)) {
      await this.#client.stop(this.options.stopGraceMs)
      this.#client.start()
      return 'The key is stored; the client was started again with it.'
    }
    return 'The key is stored; the client reports with it from its next start.'
  }

  async #poll(): Promise<void> {
    if (this.#client.state.kind === 'running') {
      try {
        this.#status = await fetchStatus(
          this.options.metricsPort,
          Math.min(this.options.statusIntervalMs, 2000),
        )
        this.#statusError = undefined
      } catch (err) {
        this.#statusError = err instanceof Error ? err.message : String(err)
      }
    }
    this.#render()
  }

  #currentView(): TrayView {
    return trayView({
      client: this.#client.state,
      status: this.#status,
      statusError: this.#statusError,
      now: new Date(),
    })
  }

  /** Sends the helper what changed since the last render. */
  #render(): void {
    const { platform, log } = this.options
    const view = this.#currentView()
    const items = menuItems(view, autostart.isEnabled(this.#autostartFile), platform)
    const previous = this.#view
    if (this.#helper !== undefined) {
      for (const item of changedItems(this.#items, items)) this.#helper.updateItem(item)
      if (previous?.icon !== view.icon || previous.tooltip !== view.tooltip)
        this.#helper.updateIcon(helperIcon(view, platform))
    }
    if (previous?.icon !== view.icon || previous.headline !== view.headline)
      log.info({ state: view.icon, headline: view.headline }, 'tray state')
    this.#items = items
    this.#view = view
  }
}

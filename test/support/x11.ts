// A throw-away X11 desktop for the tray test: Xvfb on a free display, a D-Bus session bus (as
// a desktop session has; AppIndicator looks for a StatusNotifier host on it and, finding
// none, falls back to an XEmbed icon), and trayer, an XEmbed system tray. Plus what the test
// needs to look at it: the window tree (xwininfo), clicks (xdotool), screenshots (xwd).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RgbaImage } from '../../src/tray/png.js'
import { until } from './until.js'
import { captureWindow } from './xwd.js'

export interface XWindow {
  id: string
  name: string
  /** WM_CLASS: instance and class, when set. */
  instance: string | undefined
  className: string | undefined
  width: number
  height: number
  /** Position on the screen. */
  x: number
  y: number
  children: XWindow[]
}

export interface X11Desktop {
  display: string
  /** DISPLAY and DBUS_SESSION_BUS_ADDRESS for the programs to show on it. */
  env: Record<string, string>
  tree(): XWindow
  /** Whether the window is mapped and visible. */
  viewable(id: string): boolean
  click(x: number, y: number): void
  capture(id: string | 'root'): RgbaImage
  stop(): Promise<void>
}

/** Starts Xvfb, a session bus and trayer; `dir` holds the bus socket. */
export async function startX11Desktop(dir: string): Promise<X11Desktop> {
  const display = freeDisplay()
  const children: ChildProcess[] = []
  const started = (child: ChildProcess) => {
    children.push(child)
    child.on('error', () => undefined)
    return child
  }
  const stop = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([gone, sleep(3000).then(() => child.kill('SIGKILL'))])
    }
  }
  try {
    started(spawn('Xvfb', [display, '-screen', '0', '800x600x24', '-nolisten', 'tcp'], { stdio: 'ignore' }))
    const socket = `/tmp/.X11-unix/X${display.slice(1)}`
    await until(`Xvfb on ${display}`, () => existsSync(socket), 10_000, 50)
    const bus = `unix:path=${join(dir, 'bus')}`
    started(
      spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', `--address=${bus}`], { stdio: 'ignore' }),
    )
    await until('the session bus', () => existsSync(join(dir, 'bus')), 10_000, 50)
    const env = { DISPLAY: display, DBUS_SESSION_BUS_ADDRESS: bus }
    const run = (command: string, args: string[]) =>
      // stderr piped: asking about a window that just went away is an answer, not noise.
      execFileSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' })
    const trayer = started(
      spawn('trayer', ['--edge', 'top', '--align', 'left', '--widthtype', 'request', '--height', '32'], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    )
    let trayerErr = ''
    trayer.stderr!.on('data', (chunk: Buffer) => {
      trayerErr += chunk.toString('utf8')
    })
    const desktop: X11Desktop = {
      display,
      env,
      tree: () => parseTree(run('xwininfo', ['-root', '-tree'])),
      viewable: (id) => {
        try {
          return /Map State: IsViewable/.test(run('xwininfo', ['-id', id]))
        } catch {
          return false // gone
        }
      },
      click: (x, y) => void run('xdotool', ['mousemove', String(x), String(y), 'click', '1']),
      capture: (id) => captureWindow(display, id),
      stop,
    }
    const panel = () =>
      findWindow(desktop.tree(), (w) => w.className === 'trayer' && w.name === 'panel') !== undefined
    await until('trayer’s panel', panel, 20_000, 100).catch((err: Error) => {
      const how = trayer.exitCode === null ? 'runs' : `exited with ${trayer.exitCode}`
      throw new Error(`${err.message} (trayer ${how}${trayerErr === '' ? '' : `: ${trayerErr}`})`)
    })
    return desktop
  } catch (err) {
    await stop()
    throw err
  }
}

/** A display number with neither a lock file nor a socket. */
function freeDisplay(): string {
  for (let n = 90; n < 190; n++) {
    if (!existsSync(`/tmp/.X${n}-lock`) && !existsSync(`/tmp/.X11-unix/X${n}`)) return `:${n}`
  }
  throw new Error('no free X display between :90 and :189')
}

/** The first window in `root`'s tree (depth first) that `match`es. */
export function findWindow(root: XWindow, match: (w: XWindow) => boolean): XWindow | undefined {
  if (match(root)) return root
  for (const child of root.children) {
    const found = findWindow(child, match)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * `xwininfo -root -tree` as a tree. A line is `0x400007 "name": ("instance" "Class")
 * 32x30+0+0  +767+1`, indented three spaces a level below the root's children.
 */
export function parseTree(text: string): XWindow {
  const root: XWindow = {
    id: 'root',
    name: '',
    instance: undefined,
    className: undefined,
    width: 0,
    height: 0,
    x: 0,
    y: 0,
    children: [],
  }
  const stack: { indent: number; window: XWindow }[] = [{ indent: -1, window: root }]
  const line =
    /^(\s*)(0x[0-9a-f]+) (?:"(.*)"|\(has no name\)): \((?:"([^"]*)" "([^"]*)")?\)\s+(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+?(-?\d+)\+?(-?\d+)/
  for (const raw of text.split('\n')) {
    const m = line.exec(raw)
    if (m === null) continue
    const window: XWindow = {
      id: m[2]!,
      name: m[3] ?? '',
      instance: m[4],
      className: m[5],
      width: Number(m[6]),
      height: Number(m[7]),
      x: Number(m[8]),
      y: Number(m[9]),
      children: [],
    }
    const indent = m[1]!.length
    while (stack.at(-1)!.indent >= indent) stack.pop()
    stack.at(-1)!.window.children.push(window)
    stack.push({ indent, window })
  }
  return root
}

/**
 * The vertical centres of the text lines of a GTK menu's screenshot: rows with ink (pixels far
 * from the background) grouped into bands at least 5 pixels high. Separators are light
 * one-pixel lines and are not ink; a highlighted line would be, so capture with the pointer
 * outside the menu.
 */
export function menuTextRows(image: RgbaImage): number[] {
  const at = (x: number, y: number) => {
    const o = (y * image.width + x) * 4
    return [image.data[o]!, image.data[o + 1]!, image.data[o + 2]!] as const
  }
  const background = at(Math.floor(image.width / 2), 3)
  const inked = (y: number) => {
    let count = 0
    for (let x = 6; x < image.width - 6; x++) {
      const p = at(x, y)
      if (
        Math.abs(p[0] - background[0]) + Math.abs(p[1] - background[1]) + Math.abs(p[2] - background[2]) >
        150
      )
        count++
    }
    return count >= 2
  }
  const rows: number[] = []
  let start: number | undefined
  for (let y = 2; y <= image.height - 2; y++) {
    const ink = y < image.height - 2 && inked(y)
    if (ink && start === undefined) start = y
    if (!ink && start !== undefined) {
      if (y - start >= 5) rows.push(Math.round((start + y - 1) / 2))
      start = undefined
    }
  }
  return rows
}

/** How many pixels of `image` are within `tolerance` (per channel) of `rgb`. */
export function pixelsNear(image: RgbaImage, rgb: readonly [number, number, number], tolerance = 12): number {
  let count = 0
  for (let o = 0; o < image.data.length; o += 4) {
    if (
      Math.abs(image.data[o]! - rgb[0]) <= tolerance &&
      Math.abs(image.data[o + 1]! - rgb[1]) <= tolerance &&
      Math.abs(image.data[o + 2]! - rgb[2]) <= tolerance
    )
      count++
  }
  return count
}

// The four state icons, drawn in code (no binary files to ship with `tsc`): a coloured disc
// with a white sign, the colour telling the state at a glance. The helper takes base64 of a
// PNG on Linux and macOS and of an ICO on Windows.
import { encodeIco } from './ico.js'
import { encodePng, type RgbaImage } from './png.js'
import type { IconState } from './view.js'

/** Pixels a side: what GTK tray hosts and the macOS menu bar scale down from cleanly. */
export const ICON_SIZE = 32

/** The disc colour of each state (RGB); the test tells states apart by it. */
export const ICON_COLOURS: Record<IconState, readonly [number, number, number]> = {
  measuring: [0x2e, 0x9d, 0x4a],
  waiting: [0xe0, 0x9b, 0x16],
  stopped: [0x80, 0x80, 0x80],
  error: [0xd0, 0x30, 0x30],
}

/** Inside-tests of the white signs, in coordinates where the icon is the square -1..1. */
const SIGNS: Record<IconState, (x: number, y: number) => boolean> = {
  // A "play" triangle.
  measuring: (x, y) => x >= -0.3 && x <= 0.45 && Math.abs(y) <= (0.45 - x) * 0.62,
  // Three dots: waiting for the next remote.
  waiting: (x, y) => [-0.42, 0, 0.42].some((cx) => Math.hypot(x - cx, y) <= 0.14),
  // A "stop" square.
  stopped: (x, y) => Math.abs(x) <= 0.32 && Math.abs(y) <= 0.32,
  // An exclamation mark.
  error: (x, y) => (Math.abs(x) <= 0.11 && y >= -0.55 && y <= 0.18) || Math.hypot(x, y - 0.42) <= 0.12,
}

const SAMPLES = 4

/** The icon of `state` as RGBA, anti-aliased by 4×4 samples a pixel. */
export function drawIcon(state: IconState, size = ICON_SIZE): RgbaImage {
  const data = new Uint8Array(size * size * 4)
  const [r, g, b] = ICON_COLOURS[state]
  const sign = SIGNS[state]
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let disc = 0
      let white = 0
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const x = ((px + (sx + 0.5) / SAMPLES) / size) * 2 - 1
          const y = ((py + (sy + 0.5) / SAMPLES) / size) * 2 - 1
          if (Math.hypot(x, y) > 0.94) continue
          disc++
          if (sign(x, y)) white++
        }
      }
      if (disc === 0) continue
      const w = white / disc
      const o = (py * size + px) * 4
      data[o] = Math.round(r + (255 - r) * w)
      data[o + 1] = Math.round(g + (255 - g) * w)
      data[o + 2] = Math.round(b + (255 - b) * w)
      data[o + 3] = Math.round((disc / (SAMPLES * SAMPLES)) * 255)
    }
  }
  return { width: size, height: size, data }
}

const cache = new Map<string, string>()

/** base64 of the icon file the helper of `platform` reads: ICO on Windows, PNG elsewhere. */
export function iconBase64(state: IconState, platform: NodeJS.Platform): string {
  const key = `${state}/${platform}`
  let icon = cache.get(key)
  if (icon === undefined) {
    const png = encodePng(drawIcon(state))
    icon = (platform === 'win32' ? encodeIco([{ size: ICON_SIZE, png }]) : png).toString('base64')
    cache.set(key, icon)
  }
  return icon
}

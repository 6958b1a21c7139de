// Screenshots for the tray test without ImageMagick: `xwd` (x11-apps) dumps a window or the
// root window in the X Window Dump format, which this decodes to RGBA for pixel checks and
// for PNG files (src/tray/png.ts).
import { execFileSync } from 'node:child_process'
import type { RgbaImage } from '../../src/tray/png.js'

/** Decodes an XWD file of a 24/32-bit TrueColor visual (what Xvfb -screen 0 WxHx24 gives). */
export function decodeXwd(file: Buffer): RgbaImage {
  // The header is 25 CARD32 in big-endian order (xwd swaps it), then the window name.
  const field = (i: number) => file.readUInt32BE(i * 4)
  const headerSize = field(0)
  const version = field(1)
  const format = field(2)
  const width = field(4)
  const height = field(5)
  const byteOrder = field(7) // 0 = LSBFirst
  const bitsPerPixel = field(11)
  const bytesPerLine = field(12)
  const visualClass = field(13)
  const masks = [field(14), field(15), field(16)] as const
  const colours = field(19)
  if (version !== 7 || format !== 2)
    throw new Error(`not an XWD v7 ZPixmap (version ${version}, format ${format})`)
  // TrueColor or DirectColor (what xwd -root of Xvfb says; its colour map is the identity) with
  // 8 bits a channel. A root dump packs 3 bytes a pixel in lines longer than that: bytesPerLine.
  if ((visualClass !== 4 && visualClass !== 5) || (bitsPerPixel !== 24 && bitsPerPixel !== 32))
    throw new Error(`unsupported dump: ${bitsPerPixel} bits a pixel, visual class ${visualClass}`)
  const bytesPerPixel = bitsPerPixel / 8
  // Each colour map entry is 12 bytes; TrueColor pixels carry their colour, so it is skipped.
  const pixels = headerSize + colours * 12
  const shifts = masks.map((m) => Math.log2(m & -m))
  const data = new Uint8Array(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = pixels + y * bytesPerLine + x * bytesPerPixel
      const pixel = byteOrder === 0 ? file.readUIntLE(at, bytesPerPixel) : file.readUIntBE(at, bytesPerPixel)
      const o = (y * width + x) * 4
      for (let c = 0; c < 3; c++) data[o + c] = (pixel & masks[c]!) >>> shifts[c]!
      data[o + 3] = 255
    }
  }
  return { width, height, data }
}

/** A screenshot of `window` (an X window id, or 'root') on `display`. */
export function captureWindow(display: string, window: string | number): RgbaImage {
  const args = window === 'root' ? ['-root', '-silent'] : ['-id', String(window), '-silent']
  const dump = execFileSync('xwd', args, {
    env: { ...process.env, DISPLAY: display },
    maxBuffer: 64 << 20,
    stdio: 'pipe',
  })
  return decodeXwd(dump)
}

/** The part of `image` at x, y of width × height (clipped to the image). */
export function crop(image: RgbaImage, x: number, y: number, width: number, height: number): RgbaImage {
  const x0 = Math.max(0, x)
  const y0 = Math.max(0, y)
  const w = Math.min(image.width, x + width) - x0
  const h = Math.min(image.height, y + height) - y0
  const data = new Uint8Array(w * h * 4)
  for (let row = 0; row < h; row++) {
    const from = ((y0 + row) * image.width + x0) * 4
    data.set(image.data.subarray(from, from + w * 4), row * w * 4)
  }
  return { width: w, height: h, data }
}

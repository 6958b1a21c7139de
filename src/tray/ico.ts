// Windows icon files: an ICONDIR and one entry per image, each image a whole PNG file (the
// ICO format has allowed PNG images since Windows Vista), which is what the helper's
// Windows build hands to the shell.

export interface IcoImage {
  /** Width and height in pixels, 1..256. */
  size: number
  png: Buffer
}

export function encodeIco(images: readonly IcoImage[]): Buffer {
  const header = Buffer.alloc(6)
  header.writeUInt16LE(0, 0) // reserved
  header.writeUInt16LE(1, 2) // type: icon
  header.writeUInt16LE(images.length, 4)
  const entries: Buffer[] = []
  let offset = 6 + 16 * images.length
  for (const { size, png } of images) {
    if (!Number.isInteger(size) || size < 1 || size > 256)
      throw new RangeError(`icon size ${size} not in 1..256`)
    const entry = Buffer.alloc(16)
    entry[0] = size % 256 // 0 means 256
    entry[1] = size % 256
    entry[2] = 0 // no palette
    entry[3] = 0 // reserved
    entry.writeUInt16LE(1, 4) // colour planes
    entry.writeUInt16LE(32, 6) // bits per pixel
    entry.writeUInt32LE(png.length, 8)
    entry.writeUInt32LE(offset, 12)
    entries.push(entry)
    offset += png.length
  }
  return Buffer.concat([header, ...entries, ...images.map((i) => i.png)])
}

// A minimal PNG encoder (8-bit RGBA, no filtering): the tray draws its state icons in code and
// the tests save screenshots, both without an image library.
import { crc32, deflateSync } from 'node:zlib'

/** An image as 8-bit RGBA rows, top to bottom. */
export interface RgbaImage {
  width: number
  height: number
  /** width × height × 4 bytes. */
  data: Uint8Array
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** The PNG file of `image`. */
export function encodePng(image: RgbaImage): Buffer {
  const { width, height, data } = image
  if (data.length !== width * height * 4)
    throw new RangeError(
      `RGBA data of ${width}×${height} needs ${width * height * 4} bytes, got ${data.length}`,
    )
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bits per channel
  header[9] = 6 // colour type: RGBA
  // Each row is preceded by its filter type; 0 (none) keeps the encoder trivial.
  const stride = width * 4
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function chunk(type: string, body: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length)
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), body])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(typed))
  return Buffer.concat([length, typed, crc])
}

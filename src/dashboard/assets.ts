// The page's static files. They are read at run time from src/dashboard/static/ (tsc copies
// no non-TS files; the compiled module sits at dist/src/dashboard/, three folders below the
// repository root like this source file's folder is two below it) and Chart.js from
// node_modules, once per process.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const STATIC_DIR = fileURLToPath(new URL('../../../src/dashboard/static/', import.meta.url))

export interface Asset {
  file: string
  contentType: string
}

function chartJsFile(): string {
  // chart.js exports no subpaths; its main entry lives in dist/ next to the UMD build.
  return join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js')
}

/** URL path → file. `/` is the page; "my results" is the same page with `#key=…`. */
export const ASSETS: Record<string, Asset> = {
  '/': { file: join(STATIC_DIR, 'index.html'), contentType: 'text/html; charset=utf-8' },
  '/assets/dashboard.js': {
    file: join(STATIC_DIR, 'dashboard.js'),
    contentType: 'text/javascript; charset=utf-8',
  },
  '/assets/dashboard.css': {
    file: join(STATIC_DIR, 'dashboard.css'),
    contentType: 'text/css; charset=utf-8',
  },
  '/assets/chart.umd.min.js': { file: chartJsFile(), contentType: 'text/javascript; charset=utf-8' },
}

const cache = new Map<string, Promise<Buffer>>()

/** The bytes of an asset, read once; a failed read is retried by the next request. */
export function assetBytes(asset: Asset): Promise<Buffer> {
  let bytes = cache.get(asset.file)
  if (bytes === undefined) {
    bytes = readFile(asset.file)
    bytes.catch(() => cache.delete(asset.file))
    cache.set(asset.file, bytes)
  }
  return bytes
}

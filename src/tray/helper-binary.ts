// The systray2 helper binary of this platform (Go, built by systray2 for x86-64), copied into
// the tray's private runtime directory: npm may install it without its executable bit, and a
// global install's node_modules may not be writable, so it is never run (or chmod-ed) in place.
import { chmod, copyFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { ConfigError } from '../lib/errors.js'

const BINARIES: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'tray_linux_release',
  darwin: 'tray_darwin_release',
  win32: 'tray_windows_release.exe',
}

/** The path of systray2's helper for `platform` inside node_modules. */
export function packagedHelper(platform: NodeJS.Platform): string {
  const name = BINARIES[platform]
  if (name === undefined)
    throw new ConfigError(`punchr tray runs on Linux, macOS and Windows, not ${platform}`)
  const pkg = createRequire(import.meta.url).resolve('systray2/package.json')
  return join(dirname(pkg), 'traybin', name)
}

/** Copies the helper into `dir` (mode 0755) and returns the copy's path. */
export async function installHelper(platform: NodeJS.Platform, arch: string, dir: string): Promise<string> {
  // systray2 ships x86-64 builds only; macOS on Apple silicon runs them under Rosetta 2.
  if (arch !== 'x64' && !(platform === 'darwin' && arch === 'arm64'))
    throw new ConfigError(`the tray helper (systray2) is built for x86-64 only, not ${platform} on ${arch}`)
  const source = packagedHelper(platform)
  const target = join(dir, BINARIES[platform]!)
  await copyFile(source, target)
  await chmod(target, 0o755)
  return target
}

// systray2's Linux helper links `libappindicator3.so.1`, which Debian 12 (and Ubuntu since
// 22.04) no longer ship; their `libayatana-appindicator3-1` has the same API under the name
// libayatana-appindicator3.so.1. The tray gives the helper a private directory holding a
// link libappindicator3.so.1 → the Ayatana library and puts it first on LD_LIBRARY_PATH, so
// the helper starts on either family of distributions without touching the system.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ConfigError } from '../lib/errors.js'

export const LEGACY_SONAME = 'libappindicator3.so.1'
export const AYATANA_SONAME = 'libayatana-appindicator3.so.1'

export interface AppIndicatorLibrary {
  kind: 'ayatana' | 'legacy'
  path: string
}

/** Where distributions put shared libraries, for when `ldconfig -p` is missing or stale. */
export function libraryDirs(arch: string): string[] {
  const triplet = arch === 'x64' ? 'x86_64-linux-gnu' : arch === 'arm64' ? 'aarch64-linux-gnu' : undefined
  const multiarch = triplet === undefined ? [] : [`/usr/lib/${triplet}`, `/lib/${triplet}`]
  return [...multiarch, '/usr/lib64', '/lib64', '/usr/lib', '/lib', '/usr/local/lib']
}

/** The `ldconfig -p` tag of this architecture's libraries ("(libc6,x86-64)"), if it has one. */
function ldconfigTag(arch: string): string | undefined {
  return arch === 'x64' ? 'x86-64' : arch === 'arm64' ? 'AArch64' : undefined
}

/**
 * The AppIndicator library the helper should load: Ayatana's when there is one (maintained,
 * and what a compatibility link on the system would point at anyway), else the legacy one.
 */
export function findAppIndicator(
  ldconfigOutput: string,
  arch: string,
  exists: (path: string) => boolean,
): AppIndicatorLibrary | undefined {
  const tag = ldconfigTag(arch)
  const cached = (soname: string) =>
    ldconfigOutput
      .split('\n')
      .map((line) => /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/.exec(line))
      .find(
        (m) => m !== null && m[1] === soname && (tag === undefined || m[2]!.includes(tag)) && exists(m[3]!),
      )?.[3]
  const onDisk = (soname: string) =>
    libraryDirs(arch)
      .map((dir) => join(dir, soname))
      .find(exists)
  for (const [kind, soname] of [
    ['ayatana', AYATANA_SONAME],
    ['legacy', LEGACY_SONAME],
  ] as const) {
    const path = cached(soname) ?? onDisk(soname)
    if (path !== undefined) return { kind, path }
  }
  return undefined
}

export const MISSING_APPINDICATOR =
  'the tray icon needs the AppIndicator library: install libayatana-appindicator3-1 ' +
  '(Debian 12, Ubuntu 22.04 and later: sudo apt-get install libayatana-appindicator3-1) or libappindicator3-1'

/**
 * Environment for the Linux helper: LD_LIBRARY_PATH with `dir` first, `dir` holding the
 * link to the Ayatana library. Throws ConfigError when no AppIndicator library is installed.
 */
export async function appIndicatorEnv(
  dir: string,
  env: Record<string, string | undefined>,
): Promise<Record<string, string>> {
  const library = findAppIndicator(await ldconfigCache(), process.arch, existsSync)
  if (library === undefined) throw new ConfigError(MISSING_APPINDICATOR)
  if (library.kind === 'legacy') return {}
  await symlink(library.path, join(dir, LEGACY_SONAME))
  const rest = env.LD_LIBRARY_PATH
  return { LD_LIBRARY_PATH: rest === undefined || rest === '' ? dir : `${dir}:${rest}` }
}

/** `ldconfig -p`, or '' where there is none (the directory scan then decides). */
async function ldconfigCache(): Promise<string> {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      return (await promisify(execFile)(ldconfig, ['-p'], { maxBuffer: 8 << 20 })).stdout
    } catch {}
  }
  return ''
}

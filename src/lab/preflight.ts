import { spawnSync } from 'node:child_process'
import { ConfigError } from '../lib/errors.js'

/** This machine cannot run the lab; the message says what is missing and how to get it. */
export class LabUnavailableError extends ConfigError {}

/** The facts about this process that decide whether the lab can run (tests pass their own). */
export interface LabHost {
  platform: NodeJS.Platform
  uid: number | undefined
}

const THIS_HOST: LabHost = { platform: process.platform, uid: process.getuid?.() }

/** Why the lab cannot run here, or undefined when it can (Linux, root, iproute2, iptables). */
export function labUnavailableReason(host: LabHost = THIS_HOST): string | undefined {
  if (host.platform !== 'linux') return `the NAT lab needs Linux network namespaces; this is ${host.platform}`
  if (host.uid !== 0)
    return 'the NAT lab creates network namespaces and iptables rules, which needs root: run it with sudo'
  const missing = [
    ['ip', ['-V'], 'iproute2'],
    ['iptables-restore', ['--version'], 'iptables'],
  ].filter(([cmd, args]) => spawnSync(cmd as string, args as string[], { stdio: 'ignore' }).status !== 0)
  if (missing.length > 0) {
    const packages = missing.map(([, , pkg]) => pkg).join(' ')
    return `the NAT lab needs ${missing.map(([cmd]) => cmd).join(' and ')}: apt-get install ${packages}`
  }
  return undefined
}

export function assertLabAvailable(): void {
  const reason = labUnavailableReason()
  if (reason !== undefined) throw new LabUnavailableError(reason)
}

import { spawnSync } from 'node:child_process'
import { ConfigError } from '../lib/errors.js'

/** This machine cannot run the lab; the message says what is missing and how to get it. */
export class LabUnavailableError extends ConfigError {}

/** Why the lab cannot run here, or undefined when it can (Linux, root, iproute2, iptables). */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux')
    return `the NAT lab needs Linux network namespaces; this is ${process.platform}`
  if (process.getuid?.() !== 0)
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

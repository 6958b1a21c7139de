import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from '../lib/logger.js'
import { runCommand } from './command.js'

/**
 * Debian's miniupnpd (UPnP IGD and NAT-PMP) inside a lab router's namespace, for testing the
 * client's port mappings against a real gateway (docs/adr/0005-port-mapping.md).
 *
 * Backend: the package `miniupnpd-iptables`, whose binary writes its rules through libiptc,
 * i.e. into the *legacy* x_tables — while the lab's routers (and Debian's `iptables`) use
 * iptables-nft. Both are live in one namespace, so:
 * - the chains it needs (MINIUPNPD in filter and nat, MINIUPNPD-POSTROUTING in nat, as
 *   /etc/miniupnpd/iptables_init.sh makes them) are made with `iptables-legacy`; Debian's script
 *   itself calls `iptables`, which here is nft, and the daemon would not see them;
 * - a packet passes both frameworks' FORWARD hooks, and the profile's own (nft) FORWARD drops
 *   everything from the WAN but replies. One rule added in front of it accepts connections that
 *   a DNAT rule translated, which only miniupnpd's make: what it maps, the router lets in, as
 *   a home router with UPnP does. The profile's filtering of everything else stays.
 *
 * Nothing outside the namespace changes: config, pid file and lease file live in a temp folder.
 */

export interface MiniupnpdOptions {
  netns: string
  /** The router's WAN interface (ext_ifname). */
  wan: string
  /** The router's LAN interface or bridge (listening_ip). */
  lan: string
  /** The LAN subnet whose hosts may map ports 1024-65535 to themselves, e.g. `10.1.0.0/24`. */
  lanSubnet: string
  /** How long to wait for it to listen. @default 5000 ms */
  startTimeoutMs?: number
  log?: Logger
}

/** A port forwarding as netfilter has it: the ground truth of what miniupnpd mapped. */
export interface MiniupnpdMapping {
  protocol: 'tcp' | 'udp'
  externalPort: number
  internalIp: string
  internalPort: number
}

/** One line of miniupnpd's lease file. */
export interface MiniupnpdLease extends MiniupnpdMapping {
  /** When the lease ends, seconds since the epoch; 0 = permanent. */
  expiresAt: number
  description: string
}

export interface Miniupnpd {
  readonly netns: string
  /** The port of its HTTP server (device description and SOAP control) on the LAN. */
  readonly httpPort: number
  readonly child: ChildProcess
  /** What it logged so far (in the foreground it logs to stderr, which goes to a file). */
  output(): string
  /** The forwardings in its nat chains, in rule order. */
  mappings(): Promise<MiniupnpdMapping[]>
  /** Its lease file. */
  leases(): MiniupnpdLease[]
  /** SIGTERM (SIGKILL after 2 s), then removes its chains and rules and the temp folder. Idempotent. */
  stop(): Promise<void>
}

/** Why miniupnpd cannot run in the lab here, or undefined when it can. */
export function miniupnpdUnavailableReason(): string | undefined {
  const version = spawnSync('miniupnpd', ['--version'], { encoding: 'utf8' })
  if (version.error !== undefined || version.status !== 0)
    return 'miniupnpd is not installed: apt-get install miniupnpd miniupnpd-iptables'
  if (!`${version.stdout}${version.stderr}`.includes('iptables) backend'))
    return 'miniupnpd has the nftables backend; the lab needs the iptables one: apt-get install miniupnpd-iptables'
  if (spawnSync('iptables-legacy-restore', ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'iptables-legacy-restore is missing: apt-get install iptables'
  return undefined
}

const ACCEPT_DNAT = (wan: string, lan: string) =>
  `-i ${wan} -o ${lan} -m conntrack --ctstate DNAT -j ACCEPT`.split(' ')

export async function startMiniupnpd(options: MiniupnpdOptions): Promise<Miniupnpd> {
  const reason = miniupnpdUnavailableReason()
  if (reason !== undefined) throw new Error(reason)
  const { netns, wan, lan } = options
  const dir = mkdtempSync(join(tmpdir(), 'punchr-miniupnpd-'))
  const leaseFile = join(dir, 'upnp.leases')
  writeFileSync(
    join(dir, 'miniupnpd.conf'),
    [
      `ext_ifname=${wan}`,
      `listening_ip=${lan}`,
      'http_port=0',
      'enable_upnp=yes',
      'enable_natpmp=yes',
      // Clients may map ports to their own address only.
      'secure_mode=yes',
      // IGDv2 (AddAnyPortMapping); IGDv1 clients still find it.
      'force_igd_desc_v1=no',
      'system_uptime=no',
      `uuid=${randomUUID()}`,
      `lease_file=${leaseFile}`,
      `allow 1024-65535 ${options.lanSubnet} 1024-65535`,
      'deny 0-65535 0.0.0.0/0 0-65535',
      '',
    ].join('\n'),
  )
  const exec = (cmd: string, args: string[], input?: string) =>
    runCommand('ip', ['netns', 'exec', netns, cmd, ...args], input === undefined ? {} : { input })
  try {
    await exec(
      'iptables-legacy-restore',
      ['--noflush'],
      [
        '*nat',
        ':MINIUPNPD - [0:0]',
        ':MINIUPNPD-POSTROUTING - [0:0]',
        `-A PREROUTING -i ${wan} -j MINIUPNPD`,
        `-A POSTROUTING -o ${wan} -j MINIUPNPD-POSTROUTING`,
        'COMMIT',
        '*filter',
        ':MINIUPNPD - [0:0]',
        `-A FORWARD -i ${wan} ! -o ${wan} -j MINIUPNPD`,
        'COMMIT',
        '',
      ].join('\n'),
    )
    await exec('iptables', ['-w', '-I', 'FORWARD', '1', ...ACCEPT_DNAT(wan, lan)])
  } catch (err) {
    await removeRules(netns, wan, lan)
    rmSync(dir, { recursive: true, force: true })
    throw err
  }

  // -d: foreground, logging to stderr; -4: IPv4 only (no ip6tables chains to set up for it).
  // Its log goes to a file, not a pipe: it logs every second and every request, and a pipe that
  // a busy (or synchronously waiting) test process does not drain would block it mid-answer.
  const logFile = join(dir, 'miniupnpd.log')
  const logFd = openSync(logFile, 'a')
  const args = ['-d', '-4', '-f', join(dir, 'miniupnpd.conf'), '-P', join(dir, 'miniupnpd.pid')]
  const child = spawn('ip', ['netns', 'exec', netns, 'miniupnpd', ...args], {
    stdio: ['ignore', logFd, logFd],
  })
  closeSync(logFd)
  let lastOutput = ''
  const output = () => {
    try {
      lastOutput = readFileSync(logFile, 'utf8')
    } catch {
      // removed by stop(): what it logged last time is all there is
    }
    return lastOutput
  }
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
        await exited
        clearTimeout(timer)
      }
      // miniupnpd leaves its rules (and lease file) behind on exit, to restore them on restart.
      await removeRules(netns, wan, lan)
      output() // kept for output() after the folder is gone
      rmSync(dir, { recursive: true, force: true })
    })()
    return stopping
  }

  const httpPort = await new Promise<number | Error>((resolve) => {
    const timeoutMs = options.startTimeoutMs ?? 5_000
    const deadline = Date.now() + timeoutMs
    const check = () => {
      const text = output()
      const port = /HTTP listening on port (\d+)/.exec(text)?.[1]
      if (port !== undefined && text.includes('Listening for NAT-PMP')) resolve(Number(port))
      else if (child.exitCode !== null || child.signalCode !== null)
        resolve(new Error(`exited with ${child.exitCode ?? child.signalCode}`))
      else if (Date.now() > deadline) resolve(new Error(`not listening within ${timeoutMs} ms`))
      else setTimeout(check, 20)
    }
    check()
  })
  if (httpPort instanceof Error) {
    await stop()
    throw new Error(`miniupnpd in ${netns}: ${httpPort.message}; its output:\n${output().trim()}`)
  }
  options.log?.debug({ netns, httpPort, pid: child.pid }, 'miniupnpd started')

  return {
    netns,
    httpPort,
    child,
    output,
    mappings: async () => {
      const [nat, filter] = await Promise.all(
        ['nat', 'filter'].map(
          async (table) => (await exec('iptables-legacy', ['-w', '-t', table, '-S'])).stdout,
        ),
      )
      return parseForwardings(nat!, filter!)
    },
    leases: () => {
      try {
        return parseLeases(readFileSync(leaseFile, 'utf8'))
      } catch {
        return [] // none yet: it writes the file with the first mapping
      }
    },
    stop,
  }
}

/**
 * The forwardings in `iptables-legacy -S` output of the nat and filter tables. Each mapping is
 * three rules: a DNAT in nat MINIUPNPD, an ACCEPT in filter MINIUPNPD, and a MASQUERADE in
 * MINIUPNPD-POSTROUTING that keeps the external port for the host's own outgoing packets, e.g.
 * `-A MINIUPNPD-POSTROUTING -s 10.1.0.2/32 -p tcp -m tcp --sport 4001 -j MASQUERADE --to-ports 4001`.
 * The DNAT rules print as `DNAT [unsupported revision]` (iptables 1.8.9 cannot show the target
 * revision libiptc wrote), so the mapping is read from the MASQUERADE rule, and the other two
 * must agree with it: any rule without its partners throws.
 */
export function parseForwardings(natRules: string, filterRules: string): MiniupnpdMapping[] {
  const dnat = new Set<string>()
  for (const m of natRules.matchAll(/^-A MINIUPNPD -p (tcp|udp) .*--dport (\d+) -j DNAT/gm))
    dnat.add(`${m[1]} ${m[2]}`)
  const accept = new Set<string>()
  for (const m of filterRules.matchAll(
    /^-A MINIUPNPD -d ([\d.]+)\/32 -p (tcp|udp) .*--dport (\d+) -j ACCEPT$/gm,
  ))
    accept.add(`${m[2]} ${m[1]}:${m[3]}`)
  const mappings: MiniupnpdMapping[] = []
  for (const m of natRules.matchAll(
    /^-A MINIUPNPD-POSTROUTING -s ([\d.]+)\/32 -p (tcp|udp) .*--sport (\d+) -j MASQUERADE --to-ports (\d+)$/gm,
  )) {
    const mapping = {
      protocol: m[2] as 'tcp' | 'udp',
      externalPort: Number(m[4]),
      internalIp: m[1]!,
      internalPort: Number(m[3]),
    }
    const dnatFound = dnat.delete(`${mapping.protocol} ${mapping.externalPort}`)
    const acceptFound = accept.delete(`${mapping.protocol} ${mapping.internalIp}:${mapping.internalPort}`)
    if (!dnatFound || !acceptFound)
      throw new Error(
        `miniupnpd's rules disagree on ${JSON.stringify(mapping)}:\n${natRules}\n${filterRules}`,
      )
    mappings.push(mapping)
  }
  if (dnat.size > 0 || accept.size > 0)
    throw new Error(
      `miniupnpd's rules disagree: ${[...dnat, ...accept].join(', ')} without a MASQUERADE rule`,
    )
  return mappings
}

/** Lease file lines: `TCP:4001:10.1.0.2:4001:1796704580:description` (the expiry in epoch seconds). */
export function parseLeases(text: string): MiniupnpdLease[] {
  return text.split('\n').flatMap((line) => {
    const m = /^(TCP|UDP):(\d+):([\d.]+):(\d+):(\d+):(.*)$/.exec(line)
    if (m === null) return []
    return [
      {
        protocol: m[1]!.toLowerCase() as 'tcp' | 'udp',
        externalPort: Number(m[2]),
        internalIp: m[3]!,
        internalPort: Number(m[4]),
        expiresAt: Number(m[5]),
        description: m[6]!,
      },
    ]
  })
}

/** The inverse of the set-up, what /etc/miniupnpd/iptables_removeall.sh does; each step may fail (gone already). */
async function removeRules(netns: string, wan: string, lan: string): Promise<void> {
  const steps: string[][] = [
    ['iptables', '-w', '-D', 'FORWARD', ...ACCEPT_DNAT(wan, lan)],
    ['iptables-legacy', '-w', '-t', 'nat', '-D', 'PREROUTING', '-i', wan, '-j', 'MINIUPNPD'],
    ['iptables-legacy', '-w', '-t', 'nat', '-D', 'POSTROUTING', '-o', wan, '-j', 'MINIUPNPD-POSTROUTING'],
    ['iptables-legacy', '-w', '-t', 'filter', '-D', 'FORWARD', '-i', wan, '!', '-o', wan, '-j', 'MINIUPNPD'],
    ['iptables-legacy', '-w', '-t', 'nat', '-F', 'MINIUPNPD'],
    ['iptables-legacy', '-w', '-t', 'nat', '-X', 'MINIUPNPD'],
    ['iptables-legacy', '-w', '-t', 'nat', '-F', 'MINIUPNPD-POSTROUTING'],
    ['iptables-legacy', '-w', '-t', 'nat', '-X', 'MINIUPNPD-POSTROUTING'],
    ['iptables-legacy', '-w', '-t', 'filter', '-F', 'MINIUPNPD'],
    ['iptables-legacy', '-w', '-t', 'filter', '-X', 'MINIUPNPD'],
  ]
  for (const [cmd, ...args] of steps) {
    await runCommand('ip', ['netns', 'exec', netns, cmd!, ...args]).catch(() => undefined)
  }
}

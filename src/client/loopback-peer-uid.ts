// Which user is on the other end of a loopback TCP connection: the status page hands the
// "My results" link (it carries the API key) only to a process of the user the client runs as,
// since 127.0.0.1 is shared by every user of the machine. Linux tells through /proc/net/tcp and
// /proc/net/tcp6: one line per socket, with its owner's uid. The connecting socket is the line
// whose local port is the port the request came from, whose remote port is ours, in state
// ESTABLISHED. Anything less certain (no such line, several of different owners, no /proc)
// counts as unknown, and unknown never gets the key.
import { readFile } from 'node:fs/promises'

/** The tables of the TCP sockets of this network namespace, IPv4 and IPv6. */
export const PROC_NET_TCP = ['/proc/net/tcp', '/proc/net/tcp6'] as const

/** `st` of an established connection (the kernel's TCP_ESTABLISHED). */
const ESTABLISHED = 0x01

/**
 * The uid the kernel shows for a user that is not mapped into the reader's user namespace
 * (its default overflowuid). Every other user of the machine looks like this from inside a
 * namespace (a service with PrivateUsers=yes), so a client running as it cannot tell them from
 * itself.
 */
export const OVERFLOW_UID = 65534

export interface ProcTcpSocket {
  localPort: number
  remotePort: number
  /** The `st` column: 1 ESTABLISHED, 10 (0x0A) LISTEN, … */
  state: number
  uid: number
}

/**
 * The sockets of one /proc/net/tcp or /proc/net/tcp6 text. Ports are big-endian hex after the
 * address (`0100007F:2EE1`); lines that do not parse are skipped.
 */
export function parseProcNetTcp(text: string): ProcTcpSocket[] {
  const sockets: ProcTcpSocket[] = []
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
    const fields = line.trim().split(/\s+/)
    if (fields.length < 8 || !/^\d+:$/.test(fields[0]!)) continue
    const local = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(fields[1]!)
    const remote = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(fields[2]!)
    if (local === null || remote === null) continue
    if (!/^[0-9A-Fa-f]{2}$/.test(fields[3]!) || !/^\d+$/.test(fields[7]!)) continue
    sockets.push({
      localPort: Number.parseInt(local[1]!, 16),
      remotePort: Number.parseInt(remote[1]!, 16),
      state: Number.parseInt(fields[3]!, 16),
      uid: Number(fields[7]),
    })
  }
  return sockets
}

/**
 * The owner of the socket that connected from `peerPort` to our `ourPort`, by the tables'
 * texts; undefined when no established socket matches or the matching ones disagree.
 */
export function peerUidFromTables(
  tables: readonly string[],
  peerPort: number,
  ourPort: number,
): number | undefined {
  const uids = new Set<number>()
  for (const text of tables)
    for (const s of parseProcNetTcp(text))
      if (s.localPort === peerPort && s.remotePort === ourPort && s.state === ESTABLISHED) uids.add(s.uid)
  return uids.size === 1 ? [...uids][0] : undefined
}

/**
 * The uid of the process that connected from `peerPort` to our `ourPort` over loopback;
 * undefined when it cannot be told (no /proc/net/tcp: not Linux).
 */
export async function loopbackPeerUid(
  peerPort: number,
  ourPort: number,
  read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8'),
): Promise<number | undefined> {
  const tables = await Promise.all(PROC_NET_TCP.map((path) => read(path).catch(() => undefined)))
  const found = tables.filter((t): t is string => t !== undefined)
  return found.length === 0 ? undefined : peerUidFromTables(found, peerPort, ourPort)
}

/**
 * Whether a peer of uid `peer` is the user we run as (`ours`). Unknown on either side is no;
 * so is the overflow uid, which stands for any user outside our user namespace.
 */
export function isSameUser(peer: number | undefined, ours: number | undefined): boolean {
  return peer !== undefined && ours !== undefined && peer === ours && ours !== OVERFLOW_UID
}

/** Whether the connection from `peerPort` to our `ourPort` is one of our own user's processes. */
export async function isOwnUserPeer(
  peerPort: number | undefined,
  ourPort: number | undefined,
): Promise<boolean> {
  const ours = process.getuid?.()
  if (ours === undefined || peerPort === undefined || ourPort === undefined) return false
  return isSameUser(await loopbackPeerUid(peerPort, ourPort), ours)
}

import { randomBytes } from 'node:crypto'

/**
 * Every namespace and interface a lab creates starts with its id, `pl` + 6 hex digits and a
 * dash (`pl1a2b3c-relay-1`), so that concurrent labs never clash and `punchr lab clean` can
 * recognise leftovers. The id is 8 characters: Linux interface names have at most 15, which
 * leaves `-` + 6 for the rest (`pl1a2b3c-i1234`).
 */
export const LAB_ID_PATTERN = /^pl[0-9a-f]{6}$/
/** A namespace or interface name made by some lab; group 1 is the lab id. */
export const LAB_NAME_PATTERN = /^(pl[0-9a-f]{6})-/
export const MAX_IFNAME = 15

export function newLabId(taken: Iterable<string> = []): string {
  const used = new Set(taken)
  for (;;) {
    const id = `pl${randomBytes(3).toString('hex')}`
    if (!used.has(id)) return id
  }
}

/** The lab id a namespace or interface name belongs to, or undefined when it is not a lab name. */
export function labIdOf(name: string): string | undefined {
  return LAB_NAME_PATTERN.exec(name)?.[1]
}

/** Interface names inside a lab's namespaces; unique per namespace, which is all Linux needs. */
export const ifnames = {
  /** The internet namespace's bridge. */
  bridge: (id: string) => `${id}-br`,
  /** The internet end of node i's link to the bridge. */
  bridgePort: (id: string, index: number) => `${id}-i${index}`,
  /** A public node's or a host's only interface. */
  eth: (id: string) => `${id}-eth`,
  /** A router's interface on the internet bridge. */
  wan: (id: string) => `${id}-wan`,
  /** A router's LAN bridge, which holds the router's LAN address. */
  lan: (id: string) => `${id}-lan`,
  /** The router end of host i's link. */
  lanPort: (id: string, index: number) => `${id}-l${index}`,
}

export function namespaceName(id: string, node: string): string {
  return `${id}-${node}`
}

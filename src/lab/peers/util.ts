import type { Multiaddr } from '@multiformats/multiaddr'

const CODE_P2P = 421

/** The address without a trailing `/p2p/<id>`. */
export function withoutPeerId(addr: Multiaddr): Multiaddr {
  return addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
}

/** Polls `check` every 20 ms until it holds; rejects after `ms` or when `signal` aborts. */
export async function until(
  what: string,
  check: () => boolean,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    signal?.throwIfAborted()
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

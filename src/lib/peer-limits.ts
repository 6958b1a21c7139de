/**
 * The largest identify message the honeypot and the measuring hosts read, bytes. libp2p's
 * default is 8 KiB, which a peer with a long agent version or many protocol IDs exceeds:
 * identify then fails, and the honeypot never records the peer nor a client learns its agent.
 * We read more and bound what we keep instead (src/lib/text.ts, `remoteText` and
 * `remoteProtocols`): a peer that talks too much is still measured.
 */
export const IDENTIFY_MAX_MESSAGE_BYTES = 64 * 1024

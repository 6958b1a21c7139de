/**
 * What a running `punchr client` says it is doing, in its /status.json: written by the client,
 * read by the tray, which only talks to the client through that file and so cannot import it.
 */
export const CLIENT_STATES = ['starting', 'measuring', 'waiting', 'stopping', 'stopped', 'error'] as const
export type ClientState = (typeof CLIENT_STATES)[number]

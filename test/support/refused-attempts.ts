import assert from 'node:assert/strict'

/**
 * The errors of attempts whose dials were all refused. A js-libp2p remote sends its next CONNECT
 * as soon as its own dial fails; under load that CONNECT can arrive before our refused dial has
 * returned, and the older attempt is then closed as superseded. The last attempt has no
 * successor, so its refusal is always what is recorded.
 */
export function assertRefusedAttempts(errors: readonly (string | null | undefined)[]): void {
  assert.ok(errors.length > 0, 'no attempts')
  for (const error of errors) assert.match(error ?? '', /ECONNREFUSED|the remote started a newer attempt/)
  assert.match(errors.at(-1) ?? '', /ECONNREFUSED/)
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LabUnavailableError, labUnavailableReason } from '../../src/lab/preflight.js'
import { UserFacingError } from '../../src/lib/errors.js'

describe('lab preflight', () => {
  it('refuses to run without root, saying so', () => {
    assert.match(
      labUnavailableReason({ platform: 'linux', uid: 65534 }) ?? '',
      /needs root: run it with sudo/,
    )
  })

  it('refuses other systems than Linux, naming the system', () => {
    assert.match(
      labUnavailableReason({ platform: 'darwin', uid: 0 }) ?? '',
      /needs Linux network namespaces; this is darwin/,
    )
  })

  it('is a user-facing error: the CLI prints its message without a stack', () => {
    assert.ok(new LabUnavailableError('x') instanceof UserFacingError)
  })
})

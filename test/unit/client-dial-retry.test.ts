import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BOOTSTRAP_DIAL_TRIES } from '../../src/client/constants.js'
import { isReset, retryResets } from '../../src/client/dial-retry.js'

const reset = () =>
  new Error('connect failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })
const noPause = async () => undefined

describe('bootstrap dials a peer reset', () => {
  it('are tried again, and each reset is counted', async () => {
    let calls = 0
    let resets = 0
    const result = await retryResets(
      async () => {
        if (++calls < 3) throw reset()
        return 'connected'
      },
      () => resets++,
      undefined,
      noPause,
    )
    assert.equal(result, 'connected')
    assert.equal(calls, 3)
    assert.equal(resets, 2)
  })

  it(`give up after ${BOOTSTRAP_DIAL_TRIES} tries with the last error`, async () => {
    let calls = 0
    await assert.rejects(
      retryResets(
        async () => {
          calls++
          throw reset()
        },
        () => undefined,
        undefined,
        noPause,
      ),
      /connect failed/,
    )
    assert.equal(calls, BOOTSTRAP_DIAL_TRIES)
  })

  it('other failures and an aborted signal end at once', async () => {
    let calls = 0
    await assert.rejects(
      retryResets(
        async () => {
          calls++
          throw new Error('connect ECONNREFUSED')
        },
        () => undefined,
        undefined,
        noPause,
      ),
    )
    assert.equal(calls, 1)
    assert.equal(isReset(new AggregateError([new Error('x'), reset()])), true)
    assert.equal(isReset(new Error('timeout')), false)
    const aborted = AbortSignal.abort()
    calls = 0
    await assert.rejects(
      retryResets(
        async () => {
          calls++
          throw reset()
        },
        () => undefined,
        aborted,
        noPause,
      ),
    )
    assert.equal(calls, 1)
  })
})

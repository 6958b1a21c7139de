// Who is on the other end of a loopback connection (src/client/loopback-peer-uid.ts): the
// /proc/net/tcp and /proc/net/tcp6 tables parsed from sample text, the matching of the peer's
// socket (its local port is the request's remote port, its remote port ours, ESTABLISHED),
// the doubtful cases that count as unknown, and the same-user decision the status page's key
// depends on. The lookup on real sockets is in test/integration/loopback-peer-uid.test.ts.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  isSameUser,
  loopbackPeerUid,
  OVERFLOW_UID,
  PROC_NET_TCP,
  parseProcNetTcp,
  peerUidFromTables,
} from '../../src/client/loopback-peer-uid.js'

// Our status server listens on 127.0.0.1:12001 (0x2EE1); uid 1000 connected from port 50000
// (0xC350), uid 1001 from 50001 (0xC351).
const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'
const TCP = `${HEADER}
   0: 0100007F:2EE1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:2EE1 01 00000000:00000000 00:00000000 00000000  1000        0 41002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:2EE1 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 41003 1 0000000000000000 20 4 31 10 -1
   3: 0100007F:C351 0100007F:2EE1 01 00000000:00000000 00:00000000 00000000  1001        0 41004 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:2EE1 0100007F:C351 01 00000000:00000000 00:00000000 00000000  1000        0 41005 1 0000000000000000 20 4 31 10 -1
   5: 0100007F:C352 0100007F:2EE1 06 00000000:00000000 03:00000335 00000000  1000        0 0 3 0000000000000000
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:C353 0000000000000000FFFF00000100007F:2EE1 01 00000000:00000000 00:00000000 00000000  1002        0 41006 1 0000000000000000 20 4 30 10 -1
`

describe('loopback peer uid', () => {
  it('parses the ports (big-endian hex), the state and the uid of each socket line', () => {
    const sockets = parseProcNetTcp(TCP)
    assert.equal(sockets.length, 6, 'the header is no socket')
    assert.deepEqual(sockets[0], { localPort: 12001, remotePort: 0, state: 0x0a, uid: 1000 })
    assert.deepEqual(sockets[3], { localPort: 50001, remotePort: 12001, state: 1, uid: 1001 })
    assert.deepEqual(parseProcNetTcp(TCP6), [{ localPort: 50003, remotePort: 12001, state: 1, uid: 1002 }])
    assert.deepEqual(parseProcNetTcp('garbage\n   7: nonsense\n\n'), [])
  })

  it("finds the connecting socket's owner, not our own accepted socket's", () => {
    assert.equal(peerUidFromTables([TCP, TCP6], 50000, 12001), 1000)
    assert.equal(peerUidFromTables([TCP, TCP6], 50001, 12001), 1001, 'our side (uid 1000) does not count')
    assert.equal(peerUidFromTables([TCP, TCP6], 50003, 12001), 1002, 'an IPv4-mapped socket in tcp6')
  })

  it('says unknown when no established socket matches', () => {
    assert.equal(peerUidFromTables([TCP, TCP6], 50002, 12001), undefined, 'TIME_WAIT is no peer')
    assert.equal(peerUidFromTables([TCP, TCP6], 50009, 12001), undefined, 'no such socket')
    assert.equal(peerUidFromTables([TCP], 50000, 12002), undefined, 'another server port')
    assert.equal(peerUidFromTables([], 50000, 12001), undefined)
  })

  it('says unknown when sockets of different users match, the same uid when they agree', () => {
    const twin = (uid: number) =>
      `${HEADER}\n   9: 0200007F:C350 0100007F:2EE1 01 00000000:00000000 00:00000000 00000000  ${uid}        0 41009 1 0 20 4 30 10 -1\n`
    assert.equal(peerUidFromTables([TCP, twin(1001)], 50000, 12001), undefined)
    assert.equal(peerUidFromTables([TCP, twin(1000)], 50000, 12001), 1000)
  })

  it('reads both tables, and without any (not Linux) says unknown', async () => {
    const files: Record<string, string> = { [PROC_NET_TCP[0]]: TCP, [PROC_NET_TCP[1]]: TCP6 }
    const read = async (path: string) => {
      const text = files[path]
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
      return text
    }
    assert.equal(await loopbackPeerUid(50000, 12001, read), 1000)
    assert.equal(await loopbackPeerUid(50003, 12001, read), 1002)
    delete files[PROC_NET_TCP[1]]
    assert.equal(await loopbackPeerUid(50000, 12001, read), 1000, 'a kernel without IPv6')
    delete files[PROC_NET_TCP[0]]
    assert.equal(await loopbackPeerUid(50000, 12001, read), undefined)
  })

  it('gives the key to our own uid only: another uid, unknown, or the overflow uid get none', () => {
    assert.equal(isSameUser(1000, 1000), true)
    assert.equal(isSameUser(0, 0), true)
    assert.equal(isSameUser(1001, 1000), false, 'another user of the machine')
    assert.equal(isSameUser(0, 1000), false, 'root is another user too (it could read the key file anyway)')
    assert.equal(isSameUser(undefined, 1000), false, 'unknown')
    assert.equal(isSameUser(1000, undefined), false, 'no uids (Windows)')
    assert.equal(
      isSameUser(OVERFLOW_UID, OVERFLOW_UID),
      false,
      'in a user namespace every unmapped user shows as the overflow uid',
    )
  })
})

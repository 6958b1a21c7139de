// Small reports built in memory, stored through the server's storage code (src/db/report-batch.ts)
// without a server: the rollup and archive tests.
import { createHash } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import type { AttemptOutcomeName, HolePunchOutcomeName, HolePunchReport } from '../../src/db/hole-punches.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import type { TestPeer } from './fixtures.js'

/**
 * 24 small reports of one client about `remotes`, four outcomes in turn; 20…23 are copies
 * (same digest) of 0…3, as a client's retries are.
 */
export function sampleReports(
  clientId: number,
  remotes: readonly TestPeer[],
  label: string,
): HolePunchReport[] {
  const addr = (text: string) => classifyMultiaddr(multiaddr(text))
  const outcomes: [HolePunchOutcomeName, AttemptOutcomeName][] = [
    ['SUCCESS', 'SUCCESS'],
    ['FAILED', 'FAILED'],
    ['SUCCESS', 'DIRECT_DIAL'],
    ['FAILED', 'TIMEOUT'],
  ]
  const at = new Date().toISOString()
  return Array.from({ length: 24 }, (_, i): HolePunchReport => {
    const [outcome, attempt] = outcomes[i % 4]!
    return {
      clientId,
      remoteId: remotes[i % remotes.length]!.id,
      remoteMultiAddresses: [],
      connectStartedAt: at,
      connectEndedAt: at,
      attempts: [
        {
          openedAt: at,
          startedAt: at,
          endedAt: at,
          startRtt: 0.01 * (1 + (i % 7)),
          elapsedTime: 1,
          outcome: attempt,
          error: null,
          directDialError: null,
          multiAddresses: [addr('/ip4/11.10.0.1/tcp/4001')],
        },
      ],
      openMultiAddresses: outcome === 'SUCCESS' ? [addr('/ip4/11.10.0.1/tcp/4001')] : [],
      hasDirectConns: outcome === 'SUCCESS',
      error: null,
      outcome,
      endedAt: at,
      listenMultiAddresses: [addr('/ip4/11.1.0.1/tcp/4001')],
      protocols: i % 3 === 0 ? [4, 6] : [],
      // Every other report with a latency measurement, a port mapping and network information.
      latencies:
        i % 2 === 0
          ? [
              {
                remoteId: remotes[(i + 1) % remotes.length]!.id,
                agentVersion: 'go-libp2p/0.33.0',
                protocols: ['/ipfs/ping/1.0.0'],
                multiAddress: addr('/ip4/11.10.0.2/tcp/4001'),
                rtts: [0.01 * (1 + (i % 5)), 0.5],
                rttErrs: ['', 'timeout'],
                mtype: 'TO_RELAY',
              },
            ]
          : [],
      networkInformation:
        i % 2 === 0
          ? { routerLoginHtml: null, routerLoginHtmlError: null, supportsIpv6: true, supportsIpv6Error: null }
          : null,
      natMappings:
        i % 2 === 0
          ? [
              {
                internalPort: 4001,
                externalPort: 40000 + i,
                protocol: 'tcp',
                addr: '11.1.0.1',
                addrNetwork: 'ip4',
              },
            ]
          : [],
      clientImplementation: 'punchr-ts',
      quirks: [],
      reportSha256: createHash('sha256')
        .update(`${label} ${at} ${i % 20}`)
        .digest(),
    }
  })
}

import { textTable } from './text-table.js'
import type { LabNetwork, LabNode } from './topology.js'

/** A plain-text table of every node: where it runs and which addresses it has. */
export function formatAddressTable(lab: Pick<LabNetwork, 'id' | 'scenario' | 'nodes'>): string {
  const ipv6 = lab.scenario.internet6 !== undefined
  const header = [
    'NODE',
    'KIND',
    'NAMESPACE',
    'ADDRESS',
    'SEEN FROM INTERNET AS',
    'NAT',
    ...(ipv6 ? ['IPV6', 'SEEN AS (IPV6)', 'NAT6'] : []),
    'DETAILS',
  ]
  const rows = lab.nodes.map((n) => [
    n.name,
    n.kind,
    n.netns,
    n.ip === undefined ? '' : `${n.ip}/${n.prefixLength}`,
    n.publicIp ?? '',
    n.kind === 'router' || n.kind === 'host' ? (n.nat ?? 'IPv6 only') : '',
    ...(ipv6
      ? [n.ip6 ?? '', n.publicIp6 ?? '', n.kind === 'router' || n.kind === 'host' ? (n.nat6 ?? '') : '']
      : []),
    details(n),
  ])
  const internets = [lab.scenario.internet, ...(ipv6 ? [lab.scenario.internet6!] : [])].join(' and ')
  return [
    `lab ${lab.id}: scenario ${lab.scenario.name}, internet ${internets}`,
    '',
    ...textTable(header, rows),
  ].join('\n')
}

function details(n: LabNode): string {
  if (n.kind === 'router')
    return [
      n.lanIp === undefined ? '' : `LAN ${n.lanIp} on ${n.lanSubnet}`,
      n.lanIp6 === undefined ? '' : `${n.lanIp6} on ${n.lanSubnet6}`,
      n.delayMs > 0 ? `delays ${n.delayMs} ms each way` : '',
    ]
      .filter((s) => s !== '')
      .join(', ')
  if (n.kind === 'host')
    return [n.role, n.impl, n.transports.join('+'), n.gateway === undefined ? '' : `via ${n.gateway}`]
      .filter((s) => s !== '')
      .join(', ')
  return ''
}

import { textTable } from './text-table.js'
import type { LabNetwork, LabNode } from './topology.js'

/** A plain-text table of every node: where it runs and which addresses it has. */
export function formatAddressTable(lab: Pick<LabNetwork, 'id' | 'scenario' | 'nodes'>): string {
  const header = ['NODE', 'KIND', 'NAMESPACE', 'ADDRESS', 'SEEN FROM INTERNET AS', 'NAT', 'DETAILS']
  const rows = lab.nodes.map((n) => [
    n.name,
    n.kind,
    n.netns,
    `${n.ip}/${n.prefixLength}`,
    n.publicIp,
    n.kind === 'router' || n.kind === 'host' ? n.nat : '',
    details(n),
  ])
  return [
    `lab ${lab.id}: scenario ${lab.scenario.name}, internet ${lab.scenario.internet}`,
    '',
    ...textTable(header, rows),
  ].join('\n')
}

function details(n: LabNode): string {
  if (n.kind === 'router')
    return `LAN ${n.lanIp} on ${n.lanSubnet}${n.delayMs > 0 ? `, delays ${n.delayMs} ms each way` : ''}`
  if (n.kind === 'host')
    return [n.role, n.impl, n.transports.join('+'), n.gateway === undefined ? '' : `via ${n.gateway}`]
      .filter((s) => s !== '')
      .join(', ')
  return ''
}

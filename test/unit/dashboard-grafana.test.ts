// grafana/punchr-prometheus.json may only name metrics that the server and the honeypot
// export: a renamed metric fails here instead of leaving an empty panel.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { it } from 'node:test'
import { HoneypotMetrics } from '../../src/honeypot/metrics.js'
import { ServerMetrics } from '../../src/server/metrics.js'

const dashboard = JSON.parse(
  readFileSync(new URL('../../../grafana/punchr-prometheus.json', import.meta.url), 'utf8'),
) as { panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[] }

/** Every series name the registries export: histograms as _bucket, _sum and _count. */
function exportedNames(): Set<string> {
  const honeypot = new HoneypotMetrics({
    routingTableSize: () => 0,
    connections: () => ({ inbound: 0, outbound: 0 }),
    pendingEvents: () => 0,
    trackedConnections: () => 0,
    candidates: async () => 0,
  })
  const names = new Set<string>()
  for (const registry of [new ServerMetrics().registry, honeypot.registry]) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string }
      names.add(name)
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
    }
  }
  return names
}

it('every metric a Prometheus panel queries is exported by the server or the honeypot', () => {
  const exported = exportedNames()
  const used = dashboard.panels.flatMap((p) =>
    p.targets.flatMap((t) =>
      [...t.expr.matchAll(/\bpunchr_[a-z0-9_]+/g)].map((m) => ({ panel: p.title, name: m[0] })),
    ),
  )
  assert.ok(used.length >= 20, `${used.length} metric references`)
  const missing = used.filter((u) => !exported.has(u.name)).map((u) => `${u.panel}: ${u.name}`)
  assert.deepEqual(missing, [])
})

it('every panel uses the dashboard datasource variable', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
  for (const p of dashboard.panels) assert.equal(p.datasource.uid, '${datasource}', p.title)
})

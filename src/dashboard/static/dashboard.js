// The dashboard page: reads the range and the optional API key from the URL, fetches every
// JSON endpoint, and draws each chart with Chart.js (global `Chart`, loaded before this
// module). Under every chart a "Numbers" table shows what the chart draws, as text: for
// readers, screen readers and the browser test. `body[data-state]` is loading, ready or error;
// `body[data-view]` is setup (a new campaign's checklist: no result stored yet) or results.
/* global Chart */

const OUTCOME_COLOURS = {
  SUCCESS: '#27ae60',
  FAILED: '#c0392b',
  NO_CONNECTION: '#7f8c8d',
  NO_STREAM: '#f39c12',
  CONNECTION_REVERSED: '#8e44ad',
  CANCELLED: '#95a5a6',
  UNKNOWN: '#34495e',
}
const SERIES_COLOURS = ['#2f6fde', '#e67e22', '#16a085', '#8e44ad']
const BREAKDOWNS = [
  'transport',
  'ip-version',
  'agent',
  'client-country',
  'client-asn',
  'remote-country',
  'remote-asn',
  'client-implementation',
  'client-nat-mapping',
  'client-port-mapping',
]
const BAR_COLOUR = '#2f6fde'
/** Bars of results whose old-client quirks were normalised: set apart from the rest. */
const NORMALISED_COLOUR = '#e67e22'
const charts = new Map()

// --- client implementations (the `client-implementation` breakdown and the latest results)

const IMPLEMENTATIONS = {
  'punchr-ts': 'punchr (TypeScript)',
  'punchr-go': 'Go client',
  'punchr-rust': 'Rust client',
  other: 'other',
}
/** The key suffix of results whose quirks were normalised (RESULT_GROUPS in src/db/hole-punches.ts). */
const NORMALISED_SUFFIX = ' (normalised)'
const NORMALISED_MARK = ' — quirks normalised'
const NORMALISED_HELP =
  'These results came from an old punchr client whose known quirks the server corrected before storing them; ' +
  'they can be excluded in an analysis.'

/** The same, in lines short enough for a chart tooltip. */
const NORMALISED_TOOLTIP = [
  'From an old punchr client whose known quirks',
  'the server corrected before storing them;',
  'can be excluded in an analysis.',
]

const implementationName = (implementation) => IMPLEMENTATIONS[implementation] ?? implementation

/** A client-implementation key as the page shows it, and whether its results were normalised. */
function implementationGroup(key) {
  const normalised = key.endsWith(NORMALISED_SUFFIX)
  const name = implementationName(normalised ? key.slice(0, -NORMALISED_SUFFIX.length) : key)
  return { label: normalised ? `${name}${NORMALISED_MARK}` : name, normalised }
}

/** How each breakdown shows a group key; by default as it is. */
const GROUP_LABELS = { 'client-implementation': implementationGroup }

/** A table cell marked as normalised, with the explanation as its tooltip. */
function normalisedCell(text, why = NORMALISED_HELP) {
  const span = document.createElement('span')
  span.className = 'normalised'
  span.title = why
  span.textContent = text
  return span
}

// --- state in the URL: ?range=24h or ?since=…&until=… ; the key only in the fragment #key=…

/** The view the URL asks for. A key given as ?key= moves into the fragment, which no request carries. */
function readState() {
  const url = new URL(location.href)
  const fromQuery = url.searchParams.get('key')
  if (fromQuery !== null) {
    url.searchParams.delete('key')
    url.hash = `key=${encodeURIComponent(fromQuery)}`
    history.replaceState(null, '', url)
  }
  const key = new URLSearchParams(url.hash.slice(1)).get('key')
  return {
    preset: url.searchParams.get('range') ?? (url.searchParams.has('since') ? 'custom' : '7d'),
    since: url.searchParams.get('since'),
    until: url.searchParams.get('until'),
    key: key === null || key === '' ? null : key,
  }
}

function rangeQuery(state) {
  if (state.preset !== 'custom') return { since: state.preset }
  const query = {}
  if (state.since) query.since = state.since
  if (state.until) query.until = state.until
  return query
}

async function api(state, path, query = {}) {
  const url = new URL(path, location.origin)
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value)
  const headers = state.key === null ? {} : { authorization: `Bearer ${state.key}` }
  const res = await fetch(url, { headers })
  const body = await res.json().catch(() => ({ error: res.statusText }))
  if (!res.ok) throw Object.assign(new Error(body.error ?? res.statusText), { status: res.status })
  return body
}

// --- formatting

const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`)
const interval = (p) => (p.rate === null ? 'no SUCCESS or FAILED results' : `${pct(p.low)} – ${pct(p.high)}`)
const rateText = (p) => (p.rate === null ? '–' : `${pct(p.rate)} (${p.successes}/${p.trials})`)
const ms = (s) => (s === null || s === undefined ? '–' : `${(s * 1000).toFixed(1)} ms`)

function timeLabel(iso, bucketSeconds) {
  const text = iso.replace('T', ' ').replace(/:00\.000Z$|\.000Z$/, '')
  return bucketSeconds >= 86_400 ? text.slice(0, 10) : text.slice(5, 16)
}

function setField(name, text) {
  for (const el of document.querySelectorAll(`[data-field="${name}"]`)) el.textContent = text
}

// --- tables

function fillTable(table, headers, rows) {
  table.replaceChildren()
  const head = table.createTHead().insertRow()
  for (const h of headers) {
    const th = document.createElement('th')
    th.textContent = h
    head.append(th)
  }
  const body = table.createTBody()
  for (const row of rows) {
    const tr = body.insertRow()
    for (const cell of row) {
      const td = tr.insertCell()
      if (cell instanceof Node) td.append(cell)
      else td.textContent = cell === null || cell === undefined ? '–' : String(cell)
    }
  }
}

/** The "Numbers" table under a chart card. */
function numbers(card, headers, rows) {
  let details = card.querySelector('details')
  if (details === null) {
    details = document.createElement('details')
    details.innerHTML = '<summary>Numbers</summary><table></table>'
    card.append(details)
  }
  fillTable(details.querySelector('table'), headers, rows)
}

// --- charts

/** Draws the 95 % intervals of bar datasets that carry `intervals: [[low, high], …]` as whiskers. */
const whiskers = {
  id: 'whiskers',
  afterDatasetsDraw(chart) {
    const { ctx } = chart
    chart.data.datasets.forEach((dataset, i) => {
      if (!dataset.intervals) return
      const horizontal = chart.options.indexAxis === 'y'
      const valueScale = horizontal ? chart.scales.x : chart.scales.y
      ctx.save()
      ctx.strokeStyle = '#1d2430'
      ctx.lineWidth = 1.5
      chart.getDatasetMeta(i).data.forEach((bar, j) => {
        const range = dataset.intervals[j]
        if (!range || range[0] === null) return
        const [a, b] = range.map((v) => valueScale.getPixelForValue(v))
        const at = horizontal ? bar.y : bar.x
        ctx.beginPath()
        for (const [from, to] of [
          [a, b],
          [a, a],
          [b, b],
        ]) {
          const cap = from === to ? 4 : 0
          if (horizontal) {
            ctx.moveTo(from, at - cap)
            ctx.lineTo(to, at + cap)
          } else {
            ctx.moveTo(at - cap, from)
            ctx.lineTo(at + cap, to)
          }
        }
        ctx.stroke()
      })
      ctx.restore()
    })
  },
}

function card(name) {
  return document.querySelector(`[data-chart="${name}"]`)
}

/** (Re)draws the chart of a card; an empty data set shows a note instead of empty axes. */
function draw(name, config, points) {
  const el = card(name)
  charts.get(name)?.destroy()
  charts.delete(name)
  el.dataset.points = String(points)
  const plot = el.querySelector('.plot')
  plot.querySelector('.empty')?.remove()
  const canvas = plot.querySelector('canvas')
  canvas.hidden = points === 0
  if (points === 0) {
    const note = document.createElement('p')
    note.className = 'empty'
    note.textContent = 'No data in this range.'
    plot.append(note)
    return
  }
  charts.set(
    name,
    new Chart(canvas, {
      ...config,
      options: { animation: false, maintainAspectRatio: false, ...config.options },
    }),
  )
}

const percentAxis = { min: 0, max: 1, ticks: { callback: (v) => pct(v) } }
const rateTooltip = {
  callbacks: {
    label: (c) => `${c.dataset.label}: ${pct(c.parsed[c.chart.options.indexAxis === 'y' ? 'x' : 'y'])}`,
  },
}

function drawTimeseries(data) {
  const labels = data.buckets.map((b) => timeLabel(b.start, data.bucketSeconds))
  const trials = data.buckets.reduce((a, b) => a + b.successRate.trials, 0)
  const results = data.buckets.reduce((a, b) => a + Object.values(b.outcomes).reduce((x, y) => x + y, 0), 0)
  const band = { pointRadius: 0, borderWidth: 0, backgroundColor: 'rgba(47,111,222,0.18)' }
  draw(
    'success-rate',
    {
      type: 'line',
      data: {
        labels,
        datasets: [
          { label: '95 % low', data: data.buckets.map((b) => b.successRate.low), ...band, fill: false },
          { label: '95 % high', data: data.buckets.map((b) => b.successRate.high), ...band, fill: '-1' },
          {
            label: 'success rate',
            data: data.buckets.map((b) => b.successRate.rate),
            borderColor: '#2f6fde',
            backgroundColor: '#2f6fde',
            pointRadius: 2,
          },
        ],
      },
      options: { scales: { y: percentAxis }, plugins: { legend: { display: false }, tooltip: rateTooltip } },
    },
    trials,
  )
  const withResults = data.buckets.filter((b) => Object.values(b.outcomes).some((n) => n > 0))
  numbers(
    card('success-rate'),
    ['bucket start (UTC)', 'SUCCESS', 'FAILED', 'success rate', '95 % interval'],
    withResults.map((b) => [
      b.start,
      b.outcomes.SUCCESS,
      b.outcomes.FAILED,
      pct(b.successRate.rate),
      interval(b.successRate),
    ]),
  )
  const outcomes = Object.keys(OUTCOME_COLOURS).filter((o) => data.buckets.some((b) => b.outcomes[o] > 0))
  draw(
    'outcomes',
    {
      type: 'bar',
      data: {
        labels,
        datasets: outcomes.map((o) => ({
          label: o,
          data: data.buckets.map((b) => b.outcomes[o]),
          backgroundColor: OUTCOME_COLOURS[o],
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    },
    results,
  )
  numbers(
    card('outcomes'),
    ['bucket start (UTC)', ...outcomes],
    withResults.map((b) => [b.start, ...outcomes.map((o) => b.outcomes[o])]),
  )
}

function drawBreakdown(name, data) {
  const groups = data.other === null ? data.groups : [...data.groups, data.other]
  const horizontal = !['transport', 'ip-version'].includes(name)
  // The merged rest is told apart by identity: a group of its own may be called "other" too.
  const shown = groups.map((g) =>
    g === data.other
      ? { label: `other (${data.other.groups})`, normalised: false }
      : (GROUP_LABELS[name]?.(g.key) ?? { label: g.key, normalised: false }),
  )
  draw(
    name,
    {
      type: 'bar',
      data: {
        labels: shown.map((s) => s.label),
        datasets: [
          {
            label: 'success rate',
            data: groups.map((g) => g.successRate.rate),
            intervals: groups.map((g) => [g.successRate.low, g.successRate.high]),
            backgroundColor: shown.map((s) => (s.normalised ? NORMALISED_COLOUR : BAR_COLOUR)),
          },
        ],
      },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        scales: { [horizontal ? 'x' : 'y']: percentAxis },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              ...rateTooltip.callbacks,
              afterLabel: (c) => (shown[c.dataIndex].normalised ? NORMALISED_TOOLTIP : ''),
            },
          },
        },
      },
      plugins: [whiskers],
    },
    groups.length,
  )
  numbers(
    card(name),
    [data.by, 'results', 'SUCCESS', 'FAILED', 'success rate', '95 % interval'],
    groups.map((g, i) => [
      shown[i].normalised ? normalisedCell(shown[i].label) : shown[i].label,
      g.results,
      g.success,
      g.failed,
      pct(g.successRate.rate),
      interval(g.successRate),
    ]),
  )
}

function drawShares(name, rows, label) {
  draw(
    name,
    {
      type: 'bar',
      data: {
        labels: rows.map((r) => r.label),
        datasets: [{ label: 'successes', data: rows.map((r) => r.successes), backgroundColor: '#27ae60' }],
      },
      options: { scales: { y: { beginAtZero: true } }, plugins: { legend: { display: false } } },
    },
    rows.length,
  )
  numbers(
    card(name),
    [label, 'successes', 'share', '95 % interval'],
    rows.map((r) => [r.label, r.successes, pct(r.share.rate), interval(r.share)]),
  )
}

function drawCdf(name, series) {
  draw(
    name,
    {
      type: 'line',
      data: {
        datasets: series.map((s, i) => ({
          label: `${s.name} (n=${s.count})`,
          data: s.cdf.map((p) => ({ x: p.x * 1000, y: p.p })),
          borderColor: SERIES_COLOURS[i],
          backgroundColor: SERIES_COLOURS[i],
          pointRadius: 0,
          stepped: false,
        })),
      },
      options: {
        parsing: false,
        scales: { x: { type: 'logarithmic', title: { display: true, text: 'ms' } }, y: percentAxis },
      },
    },
    series.reduce((a, s) => a + s.count, 0),
  )
  numbers(
    card(name),
    ['', 'values', 'median'],
    series.map((s) => [s.name, s.count, ms(s.median)]),
  )
}

function renderLatest(rows) {
  const outcome = (o) => {
    const span = document.createElement('span')
    span.className = `outcome-${o}`
    span.textContent = o
    return span
  }
  fillTable(
    document.querySelector('#latest table'),
    [
      'stored (UTC)',
      'outcome',
      'attempts',
      'succeeded on',
      'direct via',
      'duration',
      'remote',
      'remote agent',
      'client country',
      'remote country',
      'client',
    ],
    rows.map((r) => [
      r.createdAt.replace('T', ' ').slice(0, 19),
      outcome(r.outcome),
      r.attempts,
      r.successAttempt,
      r.finalTransport === null ? null : `${r.finalTransport}/ip${r.finalIpVersion}`,
      `${r.durationSeconds.toFixed(2)} s`,
      `${r.remotePeerId.slice(0, 8)}…${r.remotePeerId.slice(-6)}`,
      r.remoteAgent,
      r.clientCountry,
      r.remoteCountry,
      r.quirks.length === 0
        ? implementationName(r.clientImplementation)
        : normalisedCell(
            `${implementationName(r.clientImplementation)}${NORMALISED_MARK}`,
            `${NORMALISED_HELP} Normalised: ${r.quirks.join(', ')}.`,
          ),
    ]),
  )
  document.querySelector('#latest').dataset.rows = String(rows.length)
}

function renderSummary(s) {
  setField('results', s.results)
  setField('success-rate', rateText(s.successRate))
  setField('success-interval', interval(s.successRate))
  setField('first-attempt', rateText(s.firstAttempt))
  setField('first-attempt-interval', interval(s.firstAttempt))
  setField('clients', s.clients)
  setField('remotes', s.remotes)
}

function renderHealth(h) {
  setField('results-per-minute', (h.resultsLast10Minutes / 10).toFixed(1))
  setField('active-hosts', h.activeHosts)
  setField('active-keys', `${h.activeKeys} API key${h.activeKeys === 1 ? '' : 's'}`)
  setField('honeypot-peers', h.honeypotPeers)
  setField('candidates', h.candidates)
  charts.get('sparkline')?.destroy()
  charts.set(
    'sparkline',
    new Chart(document.getElementById('results-per-minute'), {
      type: 'bar',
      data: {
        labels: h.resultsPerMinute.map((m) => m.start.slice(11, 16)),
        datasets: [{ data: h.resultsPerMinute.map((m) => m.results), backgroundColor: '#2f6fde' }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { x: { display: false }, y: { display: false, beginAtZero: true } },
      },
    }),
  )
}

// --- a new campaign: the checklist while no result is stored (/api/campaign-status)

/** How often the checklist asks again; the page turns into the dashboard once results exist. */
const CAMPAIGN_REFRESH_MS = 30_000
let campaignRefresh

const shortPeer = (id) => `${id.slice(0, 8)}…${id.slice(-6)}`

/** "3 min ago" from two ISO times (both the server's). */
function ago(iso, nowIso) {
  const seconds = Math.max(0, Math.round((Date.parse(nowIso) - Date.parse(iso)) / 1000))
  if (seconds < 90) return `${seconds} s ago`
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

/** "the last …" from seconds, in the largest whole unit: 600 → "10 minutes", 3600 → "hour". */
function durationText(seconds) {
  const [count, unit] =
    seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds % 60 === 0
        ? [seconds / 60, 'minute']
        : [seconds, 'second']
  return count === 1 ? unit : `${count} ${unit}s`
}

/** One sentence on the honeypots' state, from the best one's heartbeat. */
function honeypotText(c) {
  const h = c.honeypot.honeypots.find((x) => x.state === c.honeypot.state)
  if (h === undefined)
    return (
      'No honeypot has written to this database yet. “punchr up” runs one beside the server; ' +
      'with PostgreSQL, “punchr honeypot” on the same DATABASE_URL does too.'
    )
  const who = `Honeypot ${shortPeer(h.peerId)}`
  const lastWalk = h.lastWalkAt === null ? '' : `last walk ${ago(h.lastWalkAt, c.now)}`
  switch (h.state) {
    case 'walking':
      return `${who} is walking the DHT (${lastWalk}).`
    case 'walk failing':
      return `${who} runs, but its last walk (${ago(h.lastWalkAt, c.now)}) reached no DHT peer (${h.lastWalkResult}): no internet? It keeps trying.`
    case 'starting':
      return `${who} started ${ago(h.startedAt, c.now)}; its first walk is under way.`
    case 'not walking':
      return `${who} runs without bootstrap peers (--bootstrap-peers ''): it records only peers that find it on their own.`
    case 'silent':
      return `${who} has not written since ${ago(h.beatAt, c.now)}: it stopped without saying so, or cannot reach the database.`
    default:
      return `${who} stopped ${ago(h.beatAt, c.now)}. Start “punchr up” (or “punchr honeypot”) again.`
  }
}

function setText(name, text) {
  for (const el of document.querySelectorAll(`[data-text="${name}"]`)) el.textContent = text
}

function setStep(step, done) {
  const li = document.querySelector(`.checklist [data-step="${step}"]`)
  li.dataset.done = String(done)
  li.querySelector('.step-state').textContent = done ? 'done' : 'to do'
}

function renderCampaign(c) {
  setStep('key', c.checklist.keyIssued)
  setStep('remotes', c.checklist.remotesReady)
  setStep('results', c.checklist.resultsStored)

  document.querySelector('[data-command="issue-key"]').textContent = c.commands.issueKey.command
  setText(
    'key-how',
    c.commands.issueKey.whileServerRuns
      ? "On the server's machine, with the DATABASE_URL the server uses (keys can be added while it runs). It prints the new key alone; only its hash is stored."
      : 'This server keeps its results in the embedded database, which one process holds at a time: stop the server (Ctrl-C), run this in the folder it was started from, and start the server again. It prints the new key alone; only its hash is stored.',
  )
  setText(
    'key-alternatives',
    (c.server.database === 'pglite'
      ? 'With PostgreSQL (DATABASE_URL=postgres://… for the server and for “punchr keys”) keys can be added while the server runs. '
      : '') +
      (c.keys.openRegistration
        ? 'This server runs with --open-registration: a client registers the key it is given the first time it uses it (rate-limited), so volunteers may also choose their own.'
        : 'Or start the server with --open-registration: then a client registers the key it is given the first time it uses it (rate-limited).'),
  )

  setText('honeypot', honeypotText(c))
  setField('peers-recorded', `${c.peers.recorded}${c.peers.capped ? '+' : ''}`)
  setField('peers-last-hour', c.peers.lastHour)
  setField('remotes-ready', c.remotes.ready)
  setText(
    'remotes-how',
    `A remote is a NATed peer that speaks DCUtR, recorded by a honeypot within the last ${durationText(c.remotes.windowSeconds)} with a relay ` +
      'address the server may hand out. On the public DHT the first ones come minutes after the first walk.',
  )

  setField('package', `punchr-${c.server.version}.tgz`)
  document.querySelector('[data-command="volunteer"]').textContent = c.commands.volunteer.join('\n')
  setText(
    'server-address',
    c.server.grpcAddress === null
      ? "Replace <server> with this server's public name or IP: the volunteer's machine must be able to reach its gRPC port."
      : `${c.server.grpcAddress} is the address your browser used with the server's gRPC port (--port); the volunteer's machine must be able to reach it.` +
          (c.server.grpcAddressIsLocal
            ? " It names this machine only: give volunteers the server's public name or IP instead."
            : ''),
  )
}

/** The line under the live tiles once results exist. */
function renderHoneypotLine(c) {
  const peers = `${c.peers.recorded}${c.peers.capped ? '+' : ''} peers recorded (${c.peers.lastHour} in the last hour), ${c.remotes.ready} remotes ready to hand out.`
  document.getElementById('honeypot-line').textContent = `${honeypotText(c)} ${peers}`
}

// --- the page

function showViewer(state, me) {
  document.getElementById('viewer-all').hidden = state.key !== null
  document.getElementById('viewer-mine').hidden = state.key === null
  if (me) {
    document.getElementById('viewer-name').textContent = me.username
    document.getElementById('viewer-prefix').textContent = `(key ${me.keyPrefix}…)`
  }
  const leave = document.getElementById('viewer-leave')
  leave.href = `${location.pathname}${location.search}`
}

function showRange(state, range) {
  const form = document.getElementById('range')
  form.preset.value = state.preset
  form.since.value = range.since.slice(0, 19)
  form.until.value = range.until.slice(0, 19)
}

/** The results' requests of one load, in parallel. */
function loadResults(state, range) {
  return Promise.all([
    api(state, '/api/summary', range),
    api(state, '/api/timeseries', range),
    api(state, '/api/final-connections', range),
    api(state, '/api/success-attempts', range),
    api(state, '/api/start-rtt', range),
    api(state, '/api/latency', range),
    api(state, '/api/latest', range),
    api(state, '/api/health'),
    ...BREAKDOWNS.map((by) => api(state, '/api/breakdown', { ...range, by })),
  ])
}

async function load() {
  const state = readState()
  document.body.dataset.state = 'loading'
  document.getElementById('status').textContent = ''
  showViewer(state, null)
  const range = rangeQuery(state)
  clearTimeout(campaignRefresh)
  // Everything at once: the campaign status decides between checklist and results, but the
  // results need not wait for it, and without it the page still shows them (less the
  // honeypot line).
  const campaignRequest = api(state, '/api/campaign-status').then(
    (campaign) => ({ campaign }),
    (err) => ({ failed: err }),
  )
  const resultsRequest = loadResults(state, range)
  // Not awaited when the checklist shows; a failure there must not be an unhandled rejection.
  resultsRequest.catch(() => {})
  try {
    const me = state.key === null ? null : await api(state, '/api/me')
    showViewer(state, me)
    const { campaign, failed } = await campaignRequest
    // Campaign-wide: with a key too, no result at all means the campaign has yet to start.
    if (campaign !== undefined && !campaign.results.stored) {
      renderCampaign(campaign)
      document.body.dataset.view = 'setup'
      document.body.dataset.state = 'ready'
      campaignRefresh = setTimeout(load, CAMPAIGN_REFRESH_MS)
      return
    }
    if (failed !== undefined)
      // The status code only: the message is the server's, and the request carried the key.
      console.warn(
        `campaign status unavailable (HTTP ${failed.status ?? 'error'}); showing the results without it`,
      )
    document.body.dataset.view = 'results'
    if (campaign !== undefined) renderHoneypotLine(campaign)
    else document.getElementById('honeypot-line').textContent = ''
    const [summary, series, finals, attempts, startRtt, latency, latest, health, ...breakdowns] =
      await resultsRequest
    showRange(state, summary.range)
    renderSummary(summary)
    renderHealth(health)
    drawTimeseries(series)
    BREAKDOWNS.forEach((by, i) => {
      drawBreakdown(by, breakdowns[i])
    })
    drawShares(
      'final-connections',
      finals.connections.map((c) => ({
        label: c.ipVersion === null ? c.transport : `${c.transport}/ip${c.ipVersion}`,
        successes: c.successes,
        share: c.share,
      })),
      'transport/IP version',
    )
    drawShares(
      'success-attempts',
      attempts.attempts.map((a) => ({ label: a.attempt === null ? 'none' : String(a.attempt), ...a })),
      'attempt',
    )
    drawCdf('start-rtt', startRtt.series)
    drawCdf('latency', latency.series)
    renderLatest(latest.results)
    document.body.dataset.state = 'ready'
  } catch (err) {
    const why =
      err.status === 401 || err.status === 403 ? `This API key does not work: ${err.message}.` : err.message
    document.getElementById('status').textContent = why
    document.body.dataset.state = 'error'
  }
}

function navigate(mutate) {
  const url = new URL(location.href)
  mutate(url)
  history.pushState(null, '', url)
  load()
}

document.getElementById('range').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.target
  navigate((url) => {
    for (const name of ['range', 'since', 'until']) url.searchParams.delete(name)
    if (form.preset.value !== 'custom') url.searchParams.set('range', form.preset.value)
    else {
      // The inputs show UTC (see showRange); they carry no zone of their own.
      if (form.since.value) url.searchParams.set('since', `${form.since.value}Z`)
      if (form.until.value) url.searchParams.set('until', `${form.until.value}Z`)
    }
  })
})
document.getElementById('range').preset.addEventListener('change', (event) => {
  if (event.target.value !== 'custom') event.target.form.requestSubmit()
})
document.getElementById('my-results-open').addEventListener('click', () => {
  document.getElementById('key-form').hidden = false
  document.getElementById('key-form').key.focus()
})
document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const key = event.target.key.value.trim()
  event.target.reset()
  event.target.hidden = true
  navigate((url) => {
    url.hash = `key=${encodeURIComponent(key)}`
  })
})
document.getElementById('viewer-leave').addEventListener('click', (event) => {
  event.preventDefault()
  navigate((url) => {
    url.hash = ''
  })
})
window.addEventListener('popstate', load)
load()

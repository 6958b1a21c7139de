// The status page (`GET /` on the client's loopback HTTP port): one self-contained HTML file,
// no external assets, so it works offline and ships inside the compiled module (the build is
// plain tsc, which copies no other files). It renders nothing itself: its script reads
// /status.json every few seconds and fills the fields with textContent only, since some of
// them come from remotes (their agent version) and must never be parsed as HTML. The API key
// reaches the page only as the href of the "My results" link, and only when the browser runs
// as the client's user (/status.json leaves the link out for anyone else: status-http.ts);
// others get a plain link to the dashboard and where the key is stored.

/** How often the page asks /status.json again. */
export const STATUS_REFRESH_MS = 3000

/** The page; `nonce` allows its one inline script under the Content-Security-Policy. */
export function statusPageHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>punchr client</title>
<style nonce="${nonce}">
  :root { color-scheme: light dark; --muted: #6b7280; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1.2rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
  .muted { color: var(--muted); }
  .state { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; font-weight: 600; color: #fff; background: var(--muted); }
  .state[data-value="measuring"] { background: var(--ok); }
  .state[data-value="waiting"], .state[data-value="starting"], .state[data-value="stopping"] { background: var(--warn); }
  .state[data-value="error"] { background: var(--bad); }
  .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); gap: .8rem; }
  .tile { border: 1px solid #8884; border-radius: .5rem; padding: .6rem .8rem; }
  .tile .big { font-size: 1.5rem; font-weight: 600; }
  table { border-collapse: collapse; }
  td { padding: .1rem 1rem .1rem 0; vertical-align: top; }
  td:first-child { white-space: nowrap; }
  .id { white-space: pre-line; }
  code, .id { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
  #problem { color: var(--bad); }
</style>
</head>
<body data-load="loading">
<h1>punchr client <span class="muted" data-field="version"></span></h1>
<p><span class="state" data-field="state">…</span> <span data-field="detail"></span></p>
<p id="problem" data-field="problem"></p>

<div class="tiles">
  <div class="tile"><div class="muted">Today</div>
    <div class="big"><span data-field="today-rounds">–</span> rounds</div>
    <div>success rate <span data-field="today-rate">–</span></div></div>
  <div class="tile"><div class="muted">Last hour</div>
    <div class="big"><span data-field="hour-rounds">–</span> rounds</div>
    <div>success rate <span data-field="hour-rate">–</span></div>
    <div class="muted" data-field="hour-outcomes"></div></div>
  <div class="tile"><div class="muted">Waiting to be sent</div>
    <div class="big"><span data-field="queue-reports">–</span> reports</div>
    <div class="muted" data-field="queue-bytes"></div></div>
</div>

<h2>Last round</h2>
<p data-field="last-round" class="muted">none yet</p>

<h2>Where the results go</h2>
<table>
  <tr><td>server</td><td><code data-field="server"></code></td></tr>
  <tr><td>dashboard</td><td><a data-field="my-results" rel="noreferrer noopener" target="_blank" hidden>My results</a><span data-field="enter-key" hidden>My results: open <a data-field="dashboard" rel="noreferrer noopener" target="_blank">the dashboard</a> and enter your key (<span data-field="key-where"></span>)</span><span data-field="no-dashboard" class="muted" hidden>not configured (--dashboard-url)</span></td></tr>
  <tr><td>running since</td><td data-field="started"></td></tr>
  <tr><td>hosts</td><td data-field="hosts" class="id"></td></tr>
</table>
<p class="muted">The success rate counts SUCCESS / (SUCCESS + FAILED); other outcomes say nothing about hole punching.
This page refreshes itself every ${STATUS_REFRESH_MS / 1000} s; <a href="status.json">status.json</a> has the same as JSON.</p>

<script nonce="${nonce}">
'use strict'
const field = (name) => document.querySelector('[data-field="' + name + '"]')
const set = (name, text) => { field(name).textContent = text }
const rate = (t) => t.successRate === null ? 'n/a'
  : (100 * t.successRate).toFixed(1) + ' % (' + t.successes + '/' + (t.successes + t.failures) + ')'
const time = (iso) => new Date(iso).toLocaleString()

function render(s) {
  set('version', s.version)
  set('state', s.state)
  field('state').dataset.value = s.state
  document.body.dataset.clientState = s.state
  set('detail', s.detail)
  set('problem', s.lastError === null || s.lastError === undefined ? '' : 'last problem (' + time(s.lastError.at) + '): ' + s.lastError.message)
  set('today-rounds', String(s.today.rounds))
  set('today-rate', rate(s.today))
  set('hour-rounds', String(s.lastHour.rounds))
  set('hour-rate', rate(s.lastHour))
  set('hour-outcomes', Object.entries(s.lastHour.byOutcome).sort((a, b) => b[1] - a[1]).map(([o, n]) => o + ' ' + n).join(', '))
  set('queue-reports', String(s.queue.reports))
  set('queue-bytes', s.queue.bytes + ' bytes')
  const r = s.lastRound
  set('last-round', r === null ? 'none yet' : r.outcome + ' with ' + r.remoteId
    + (r.remoteAgent ? ' (' + r.remoteAgent + ')' : '')
    + (r.transport === null ? '' : ' over ' + r.transport)
    + ', ' + r.attempts + ' attempt(s), ' + (r.durationMs / 1000).toFixed(1) + ' s, at ' + time(r.finishedAt))
  set('server', s.server)
  // The key-bearing link comes only to the client's own user; anyone else is told where to enter it.
  const mine = s.myResultsUrl ?? null
  const dashboard = s.dashboardUrl ?? null
  const link = field('my-results')
  if (mine === null) link.removeAttribute('href')
  else link.href = mine
  link.hidden = mine === null
  const plain = field('dashboard')
  if (mine !== null || dashboard === null) plain.removeAttribute('href')
  else plain.href = dashboard
  field('enter-key').hidden = mine !== null || dashboard === null
  set('key-where', s.apiKeyFile ? 'punchr login stored it in ' + s.apiKeyFile
    : 'the one this client was given with --api-key or PUNCHR_CLIENT_API_KEY')
  field('no-dashboard').hidden = mine !== null || dashboard !== null
  set('started', time(s.startedAt))
  set('hosts', s.hosts.join('\\n'))
}

async function refresh() {
  try {
    const res = await fetch('status.json', { cache: 'no-store' })
    if (!res.ok) throw new Error('HTTP ' + res.status)
    render(await res.json())
    document.body.dataset.load = 'ready'
  } catch (err) {
    set('problem', 'the client does not answer (' + err.message + '); it may have stopped')
    document.body.dataset.load = 'error'
  }
}
refresh()
setInterval(refresh, ${STATUS_REFRESH_MS})
</script>
</body>
</html>
`
}

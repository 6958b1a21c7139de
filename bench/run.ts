// `npm run bench`: the server benchmark (bench/main.ts); `npm run bench -- --client` the
// client's (bench/client-main.ts, NAT lab, root); `npm run bench -- --dashboard` the
// dashboard's (bench/dashboard-main.ts); `npm run bench -- --honeypot` the honeypot's
// (bench/honeypot-main.ts); `npm run bench -- --load` 1 000 clients with faults (bench/load-main.ts);
// `npm run bench -- --auth` API keys with and without the cache (bench/auth-main.ts);
// `npm run bench -- --ingest` TrackHolePunch with the group commit off and on (bench/ingest-main.ts);
// `npm run bench -- --replicas` 1 and 3 server processes behind HAProxy (bench/replicas-main.ts);
// `npm run bench -- --rest-wake` a measuring host resting and waking, its heap (bench/rest-wake-main.ts). Programs log only warnings while measured;
// the logger reads its level when first loaded, so it is set before anything loads it.
process.env.PUNCHR_LOG_LEVEL ??= 'warn'
if (process.argv.includes('--client')) await import('./client-main.js')
else if (process.argv.includes('--dashboard')) await import('./dashboard-main.js')
else if (process.argv.includes('--honeypot')) await import('./honeypot-main.js')
else if (process.argv.includes('--load')) await import('./load-main.js')
else if (process.argv.includes('--auth')) await import('./auth-main.js')
else if (process.argv.includes('--ingest')) await import('./ingest-main.js')
else if (process.argv.includes('--replicas')) await import('./replicas-main.js')
else if (process.argv.includes('--rest-wake')) {
  // The client's V8 and malloc settings, applied before the host's modules load (as the client does).
  const { applyClientRuntime } = await import('../src/cli/client-runtime.js')
  applyClientRuntime()
  await import('./rest-wake-main.js')
} else await import('./main.js')

export {}

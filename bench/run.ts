// `npm run bench`: the server benchmark (bench/main.ts). The server logs only warnings while
// it runs; the logger reads its level when first loaded, so it is set before anything loads it.
process.env.PUNCHR_LOG_LEVEL ??= 'warn'
await import('./main.js')

export {}

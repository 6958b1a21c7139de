import { startPostgres } from './postgres.js'

/**
 * Runs one throw-away PostgreSQL cluster for a whole test run (started by scripts/test.js).
 * Prints one JSON line on stdout, `{"url": …}` when ready or `{"error": …, "notInstalled": …}`,
 * then keeps running until SIGINT/SIGTERM or until stdin closes. Watching stdin means the
 * cluster also goes away when scripts/test.js dies without a chance to stop it.
 */

let cluster: Awaited<ReturnType<typeof startPostgres>> | undefined
let stopping = false

async function shutdown(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  try {
    await cluster?.stop()
  } catch (err) {
    process.stderr.write(`stopping PostgreSQL failed: ${err}\n`)
    code = 1
  }
  process.exit(code)
}

// Listeners first, so a signal during startup still ends in a clean stop.
process.on('SIGINT', () => void shutdown(130))
process.on('SIGTERM', () => void shutdown(0))
process.stdin.on('end', () => void shutdown(0))
process.stdin.on('error', () => void shutdown(0))
process.stdin.resume()

try {
  cluster = await startPostgres()
  if (stopping) await cluster.stop()
  else process.stdout.write(`${JSON.stringify({ url: cluster.url, dir: cluster.dir })}\n`)
} catch (err) {
  const notInstalled = err instanceof Error && err.name === 'PostgresNotInstalledError'
  const message = err instanceof Error ? err.message : String(err)
  process.stdout.write(`${JSON.stringify({ error: message, notInstalled })}\n`)
  process.exit(1)
}

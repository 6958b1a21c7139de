import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts } from '../../src/client/ports.js'
import { until } from './until.js'

export const HAPROXY_HINT = 'install Debian’s haproxy (apt-get install haproxy; .ci/run does)'

export interface GrpcBalancer {
  /** The balancer's cleartext HTTP/2 address, `http://127.0.0.1:<port>`. */
  readonly url: string
  stop(): Promise<void>
}

/**
 * A real HAProxy (Debian's) in front of gRPC servers on loopback: HTTP/2 cleartext on both
 * sides, each call (stream) balanced round-robin on its own, as a deployment of server
 * replicas would run it. Fails with what to install when haproxy is missing.
 */
export async function startGrpcBalancer(backendPorts: readonly number[]): Promise<GrpcBalancer> {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' })
  } catch {
    throw new Error(`haproxy is not installed: ${HAPROXY_HINT}`)
  }
  const [port] = await freePorts('127.0.0.1', 1)
  const dir = mkdtempSync(join(tmpdir(), 'punchr-haproxy-'))
  const config = join(dir, 'haproxy.cfg')
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      'frontend grpc',
      `  bind 127.0.0.1:${port} proto h2`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      ...backendPorts.map((p, i) => `  server replica${i} 127.0.0.1:${p} proto h2`),
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('haproxy', ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    await until(
      'haproxy to accept connections',
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr}`)
        return accepts(port!)
      },
      10_000,
      50,
    )
  } catch (err) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

import { type ChildProcess, spawn } from 'node:child_process'

export interface CommandResult {
  stdout: string
  stderr: string
}

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string
  /** Killed (SIGKILL) after this long. @default no limit */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** Called with the child right after it started (the lab tracks it to kill it on teardown). */
  onSpawn?: (child: ChildProcess) => void
}

/** A command exited non-zero, was killed or could not start; the message carries its stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError'
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message)
  }
}

/** Runs a command to completion; rejects with CommandError unless it exits 0. */
export function runCommand(
  cmd: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env === undefined ? {} : { env: options.env }),
    })
    options.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    // A command that does not read its stdin closes the pipe early; that is not our failure.
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
    const shown = [cmd, ...args].join(' ')
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new CommandError(`${shown}: ${err.message}`, null, null, stdout, stderr))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve({ stdout, stderr })
      else {
        const why = signal === null ? `exited with ${code}` : `was killed by ${signal}`
        reject(
          new CommandError(
            `${shown} ${why}: ${stderr.trim() || stdout.trim()}`,
            code,
            signal,
            stdout,
            stderr,
          ),
        )
      }
    })
  })
}

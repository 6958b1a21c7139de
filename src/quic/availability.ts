// Whether QUIC can run here. Our QUIC transport sits on @matrixai/quic, whose native module
// (quiche) is published prebuilt for linux-x64, darwin (x64, arm64) and win32-x64 only, as
// optional dependencies. Elsewhere (a Raspberry Pi's linux-arm64) or in an install that left the
// optional builds out, importing it throws. The client and the honeypot then run on TCP alone
// and say so, rather than failing: TCP results are still measurements (README, "Platforms").
import type { quicTransport } from './transport.js'

export type QuicTransportFactory = typeof quicTransport

let loading: Promise<QuicTransportFactory | Error> | undefined

/**
 * The QUIC transport factory, or the error that says why QUIC cannot run on this machine. Any
 * other failure to load the transport is a bug of ours and rejects: it must not pass for a
 * platform without QUIC.
 */
export function loadQuicTransport(): Promise<QuicTransportFactory | Error> {
  loading ??= import('./transport.js').then(
    (module) => module.quicTransport,
    (err: unknown) => {
      if (!isMissingNativeModule(err)) throw err
      return new Error(
        `QUIC is not available on ${process.platform}-${process.arch}: ${firstLine(err.message)}`,
      )
    },
  )
  return loading
}

/**
 * What @matrixai/quic's loader throws when no native build fits: none installed for this
 * platform, a platform it has none for, or a build the system cannot load (an older libc).
 */
function isMissingNativeModule(err: unknown): err is Error {
  if (!(err instanceof Error)) return false
  if ((err as NodeJS.ErrnoException).code === 'ERR_DLOPEN_FAILED') return true
  return /^(Failed requiring possible native bindings|Unsupported (architecture|OS))/.test(err.message)
}

/** @matrixai/quic lists every file it tried; the first line says enough. */
function firstLine(message: string): string {
  return message.split('\n')[0] ?? message
}

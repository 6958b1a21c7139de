import type { Logger } from '@libp2p/interface'
import MatrixLogger, { Handler, type LogFormatter, LogLevel, type LogRecord } from '@matrixai/logger'

/**
 * A logger for @matrixai/quic that writes to a libp2p logger. Left to itself the library
 * logs every connection and stream event to stderr; this way its lines appear with ours under
 * DEBUG=punchr:quic*, and cost nothing (level SILENT) when that is off.
 */
export function nativeLogger(log: Logger): MatrixLogger {
  return new MatrixLogger('quic', log.enabled ? LogLevel.DEBUG : LogLevel.SILENT, [new LibP2pHandler(log)])
}

class LibP2pHandler extends Handler {
  constructor(private readonly log: Logger) {
    super()
  }

  override handle(record: LogRecord, format?: LogFormatter): void {
    const line = format === undefined ? this.format(record) : format(record)
    if (record.level >= LogLevel.WARN) this.log.error(line)
    else this.log(line)
  }

  emit(output: string): void {
    this.log(output)
  }
}

import { equals, fromBinary, toBinary } from '@bufbuild/protobuf'
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'
import { type TrackHolePunchRequest, TrackHolePunchRequestSchema } from '../src/gen/punchr_pb.js'
import type { PreparedHost, PreparedRemote } from './load-worker.js'

/** The fields of a TrackHolePunchRequest that come from the reporting host. */
const HOST_FIELDS = new Set([1, 12, 13]) // client_id, listen_multi_addresses, api_key
/** ended_at: each report's own, which makes it distinct. */
const ENDED_AT = 11

/**
 * The bytes of the load generator's reports (`build`: buildReportAt in load-worker.ts), made
 * for a fraction of what building and encoding each message costs. The load generator shares
 * the machine's two cores with the server it measures, so what it spends is taken from what
 * is measured. A report is the concatenation of its host's fields and its remote's fields,
 * each encoded once (on first use), and its own ended_at: protobuf fields may come in any
 * order, so the server decodes exactly the report `build` makes with this encoder's time base,
 * ended_at `seq` nanoseconds later, and every report is distinct.
 */
export class ReportBytes {
  private readonly hostParts = new Map<PreparedHost, Uint8Array>()
  private readonly remoteParts = new Map<PreparedRemote, { bytes: Uint8Array; endedAt: bigint }>()

  /** `t0`: the connect start of every report, ns since the epoch (a minute ago by default). */
  constructor(
    private readonly build: (host: PreparedHost, remote: PreparedRemote, t0: bigint) => TrackHolePunchRequest,
    private readonly t0 = BigInt(Date.now() - 60_000) * 1_000_000n,
  ) {}

  of(host: PreparedHost, remote: PreparedRemote, seq: number): Uint8Array {
    let hostPart = this.hostParts.get(host)
    if (hostPart === undefined) {
      hostPart = fields(this.encoded(host, remote), (n) => HOST_FIELDS.has(n))
      this.hostParts.set(host, hostPart)
    }
    let remotePart = this.remoteParts.get(remote)
    if (remotePart === undefined) {
      remotePart = {
        bytes: fields(this.encoded(host, remote), (n) => !HOST_FIELDS.has(n) && n !== ENDED_AT),
        endedAt: this.build(host, remote, this.t0).endedAt,
      }
      this.remoteParts.set(remote, remotePart)
    }
    const endedAt = new BinaryWriter()
      .tag(ENDED_AT, WireType.Varint)
      .uint64(remotePart.endedAt + BigInt(seq))
      .finish()
    return Buffer.concat([hostPart, remotePart.bytes, endedAt])
  }

  /**
   * Throws unless the bytes of `seq` decode to `build`'s report with ended_at moved by `seq`
   * ns: the benchmark checks its shortcut before it measures anything with it.
   */
  check(host: PreparedHost, remote: PreparedRemote, seq: number): void {
    const report = this.build(host, remote, this.t0)
    report.endedAt += BigInt(seq)
    // Encoded and decoded too: float fields come back rounded to 32 bits.
    const expected = fromBinary(TrackHolePunchRequestSchema, toBinary(TrackHolePunchRequestSchema, report))
    const decoded = fromBinary(TrackHolePunchRequestSchema, this.of(host, remote, seq))
    if (!equals(TrackHolePunchRequestSchema, decoded, expected))
      throw new Error('ReportBytes: the concatenated parts do not decode to the report they stand for')
  }

  private encoded(host: PreparedHost, remote: PreparedRemote): Uint8Array {
    return toBinary(TrackHolePunchRequestSchema, this.build(host, remote, this.t0))
  }
}

/** The encoded fields of `message` whose numbers `keep` selects, as they were on the wire. */
function fields(message: Uint8Array, keep: (fieldNo: number) => boolean): Uint8Array {
  const kept: Uint8Array[] = []
  const reader = new BinaryReader(message)
  while (reader.pos < reader.len) {
    const start = reader.pos
    const [fieldNo, wireType] = reader.tag()
    reader.skip(wireType, fieldNo)
    if (keep(fieldNo)) kept.push(message.subarray(start, reader.pos))
  }
  return Buffer.concat(kept)
}

/**
 * A message in gRPC's length-prefixed framing: a flag byte (0: not compressed), the length as
 * four bytes big-endian, the message. The client frames its requests so, the server its answers.
 */
export function grpcFrame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length)
  framed.writeUInt8(0, 0)
  framed.writeUInt32BE(message.length, 1)
  framed.set(message, 5)
  return framed
}

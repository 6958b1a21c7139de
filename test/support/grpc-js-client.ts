import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

/**
 * A punchr client built on an independent gRPC stack: @grpc/grpc-js for HTTP/2 and framing,
 * @grpc/proto-loader (protobufjs) for the messages, loaded from proto/punchr.proto at run
 * time. Nothing of our generated code or of Connect is involved, so a test passing through it
 * shows the server speaks plain gRPC as other implementations do.
 *
 * Messages are proto-loader's plain objects with the options below: proto field names
 * (snake_case), 64-bit integers as decimal strings, enums as their names, bytes as Buffers.
 */

// dist/test/support/grpc-js-client.js → the repository root.
export const PROTO_PATH = fileURLToPath(new URL('../../../proto/punchr.proto', import.meta.url))

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
}

export const definition = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS)

export type Method = 'Register' | 'GetAddrInfo' | 'TrackHolePunch'

export const serviceDefinition = definition.PunchrService as protoLoader.ServiceDefinition

/** A message type's proto-loader codec (serialize/deserialize through protobufjs). */
export function messageType(name: string): protoLoader.MessageTypeDefinition<object, object> {
  const type = definition[name] as protoLoader.MessageTypeDefinition<object, object> | undefined
  assert.ok(type !== undefined && type.format === 'Protocol Buffer 3 DescriptorProto', `no message ${name}`)
  return type
}

/** A message as proto-loader hands it over / accepts it. */
export type Message = Record<string, unknown>

export interface GrpcJsClient {
  /** Calls a method through grpc-js's dynamic stub (`client.Register(req, cb)`). */
  call(method: Method, request: Message): Promise<Message>
  /** Sends `bytes` as the request message as is (for messages protobufjs would not produce). */
  callRaw(method: Method, bytes: Uint8Array): Promise<Message>
  close(): void
}

const CALL_TIMEOUT_MS = 15_000

type UnaryStub = (
  request: Message,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Message) => void,
) => grpc.ClientUnaryCall

/** Connects (lazily, like every grpc-js client) to `host:port` over cleartext HTTP/2. */
export function grpcJsClient(address: string): GrpcJsClient {
  const loaded = grpc.loadPackageDefinition(definition)
  const Service = loaded.PunchrService as grpc.ServiceClientConstructor
  const client = new Service(address, grpc.credentials.createInsecure())
  const deadline = () => ({ deadline: Date.now() + CALL_TIMEOUT_MS })
  const settle =
    (resolve: (m: Message) => void, reject: (e: grpc.ServiceError) => void) =>
    (err: grpc.ServiceError | null, response?: Message) =>
      err ? reject(err) : resolve(response ?? {})
  return {
    call: (method, request) =>
      new Promise((resolve, reject) => {
        const stub = (client as unknown as Record<Method, UnaryStub>)[method]
        stub.call(client, request, deadline(), settle(resolve, reject))
      }),
    callRaw: (method, bytes) =>
      new Promise((resolve, reject) => {
        const def = serviceDefinition[method]!
        client.makeUnaryRequest<Buffer, Message>(
          def.path,
          (b) => b,
          (b) => def.responseDeserialize(b) as Message,
          Buffer.from(bytes),
          deadline(),
          settle(resolve, reject),
        )
      }),
    close: () => client.close(),
  }
}

/**
 * The status message as the server meant it. Connect percent-encodes grpc-message with
 * encodeURIComponent (so `:` `;` `,` `?` travel as %3A %3B %2C %3F, which the gRPC spec
 * allows), but grpc-js decodes it with decodeURI, which leaves exactly those escapes in
 * place: grpc-js shows "client_id%3A …". Go and Rust clients decode every escape; this does
 * the same for grpc-js's leftovers.
 */
export function statusMessage(err: grpc.ServiceError): string {
  try {
    return decodeURIComponent(err.details)
  } catch {
    return err.details
  }
}

/**
 * Awaits a call that must fail with gRPC status `code` (a number, e.g. 3) and a status
 * message (see statusMessage) matching `details`.
 */
export async function expectStatus(
  promise: Promise<unknown>,
  code: grpc.status,
  details?: RegExp,
): Promise<grpc.ServiceError> {
  const err = await promise.then(
    (res) =>
      assert.fail(`expected status ${code} (${grpc.status[code]}), got success: ${JSON.stringify(res)}`),
    (e: unknown) => e as grpc.ServiceError,
  )
  assert.equal(
    err.code,
    code,
    `expected status ${code} (${grpc.status[code]}), got ${err.code} (${grpc.status[err.code]}): ${err.details}`,
  )
  if (details !== undefined) assert.match(statusMessage(err), details, `raw grpc-js details: ${err.details}`)
  return err
}

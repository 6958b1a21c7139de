import type http from 'node:http'
import type http2 from 'node:http2'
import { type DescMessage, fromBinary } from '@bufbuild/protobuf'
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type Interceptor,
} from '@connectrpc/connect'
import { type ConnectNodeAdapterOptions, connectNodeAdapter } from '@connectrpc/connect-node'

/**
 * connectNodeAdapter, but a request body that is not protobuf gets INVALID_ARGUMENT.
 *
 * Connect parses the request before any interceptor runs and answers a parse failure with
 * INTERNAL ("parse binary: …"), which tells a client the fault is ours and invites retries
 * (found by test/integration/fuzz.test.ts). So the body of a binary request is parsed here
 * first; when that fails the handler gets an empty message instead and `malformedRequest()`,
 * the first interceptor, answers INVALID_ARGUMENT with the parser's reason.
 */

const MALFORMED = createContextKey<string | undefined>(undefined, { description: 'request parse error' })

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse

export function punchrConnectAdapter(
  options: ConnectNodeAdapterOptions,
): (req: NodeRequest, res: NodeResponse) => void {
  const connectHandle = connectNodeAdapter({
    ...options,
    contextValues: (req) => {
      const values = options.contextValues?.(req) ?? createContextValues()
      const reason = (req as { [PARSE_ERROR]?: string })[PARSE_ERROR]
      if (reason !== undefined) values.set(MALFORMED, reason)
      return values
    },
  })
  // Whatever Connect throws at a request (rather than answering it) must not end the process.
  const handle = (req: NodeRequest, res: NodeResponse) => {
    try {
      withUsableAuthority(req)
      connectHandle(req, res)
    } catch {
      if (res.headersSent) res.destroy()
      else {
        res.statusCode = 400
        res.end()
      }
    }
  }
  const maxBytes = options.readMaxBytes ?? Number.POSITIVE_INFINITY
  const inputs = inputSchemas(options.routes)

  return (req, res) => {
    const input = inputs.get(req.url?.split('?', 2)[0] ?? '')
    const framing = input === undefined ? undefined : framingOf(req.headers['content-type'])
    if (input === undefined || framing === undefined) {
      handle(req, res)
      return
    }
    void readUpTo(req, maxBytes).then(
      ({ chunks, complete, rest }) => {
        if (!complete) {
          // Over Connect's own read limit: it reads the same bytes again and answers that.
          handle(replayRequest(req, chunks, rest, undefined), res)
          return
        }
        const body = Buffer.concat(chunks)
        const message = framing === 'envelope' ? unwrap(body) : body
        const reason = message === undefined ? undefined : parseError(input, message)
        if (reason === undefined) handle(replayRequest(req, chunks, undefined, undefined), res)
        else {
          const empty = Buffer.alloc(framing === 'envelope' ? 5 : 0)
          handle(replayRequest(req, [empty], undefined, reason), res)
        }
      },
      () => res.destroy(),
    )
  }
}

/** What a request's authority becomes when it cannot be one (see withUsableAuthority). */
export const UNUSABLE_AUTHORITY_REPLACEMENT = 'punchr.invalid'

/**
 * Connect builds a URL from the request's authority and throws when it cannot, which ended the
 * server: Node's own HTTP/2 client sends an IPv6 authority without brackets
 * (`2600:11::1:10000`, seen in the lab), and a peer may send none at all. Nothing here routes
 * by authority, so one that does not parse is replaced.
 */
function withUsableAuthority(req: NodeRequest): void {
  const authority = 'authority' in req ? req.authority : req.headers.host
  if (authority !== undefined && URL.canParse(`http://${authority}`)) return
  if ('authority' in req) Object.defineProperty(req, 'authority', { value: UNUSABLE_AUTHORITY_REPLACEMENT })
  else req.headers.host = UNUSABLE_AUTHORITY_REPLACEMENT
}

/** The input message schema of every RPC the routes register, by request path. */
function inputSchemas(routes: ConnectNodeAdapterOptions['routes']): Map<string, DescMessage> {
  const router = createConnectRouter()
  routes(router)
  return new Map(router.handlers.map((h) => [h.requestPath, h.method.input]))
}

function parseError(schema: DescMessage, message: Uint8Array): string | undefined {
  try {
    fromBinary(schema, message)
    return undefined
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

/** The first interceptor: a request whose body did not parse is refused as the client's fault. */
export function malformedRequest(): Interceptor {
  return (next) => async (req) => {
    const reason = req.contextValues.get(MALFORMED)
    if (reason !== undefined) throw notProtobuf(reason)
    return next(req)
  }
}

/** The answer to a request body that is not a protobuf message of the method's input. */
export function notProtobuf(reason: string): ConnectError {
  return new ConnectError(`request: not a valid protobuf message: ${reason}`, Code.InvalidArgument)
}

/** `raw` = Connect unary (the body is the message); `envelope` = gRPC / gRPC-Web framing. */
function framingOf(contentType: string | undefined): 'raw' | 'envelope' | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase()
  if (type === 'application/proto') return 'raw'
  if (type === 'application/grpc' || type === 'application/grpc+proto') return 'envelope'
  if (type === 'application/grpc-web' || type === 'application/grpc-web+proto') return 'envelope'
  return undefined
}

/** The message of one uncompressed envelope; undefined when framing or compression is left to Connect. */
function unwrap(body: Uint8Array): Uint8Array | undefined {
  if (body.length < 5 || (body[0]! & 1) !== 0) return undefined
  const length = new DataView(body.buffer, body.byteOffset + 1, 4).getUint32(0)
  if (body.length !== 5 + length) return undefined
  return body.subarray(5)
}

/** The body's chunks, up to the first that passes `max` (then `rest` iterates the remainder). */
async function readUpTo(
  req: NodeRequest,
  max: number,
): Promise<{ chunks: Buffer[]; complete: boolean; rest: AsyncIterator<Buffer> }> {
  const rest = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  const chunks: Buffer[] = []
  let size = 0
  for (;;) {
    const next = await rest.next()
    if (next.done === true) return { chunks, complete: true, rest }
    chunks.push(next.value)
    size += next.value.length
    if (size > max) return { chunks, complete: false, rest }
  }
}

const PARSE_ERROR = Symbol('punchr parse error')

/**
 * The request with its body replaced: `chunks`, then whatever `rest` still yields. Everything
 * else (headers, events, the socket) is the real request's, with methods bound to it.
 */
function replayRequest(
  req: NodeRequest,
  chunks: Buffer[],
  rest: AsyncIterator<Buffer> | undefined,
  parseError: string | undefined,
): NodeRequest {
  async function* body() {
    yield* chunks
    if (rest === undefined) return
    for (let next = await rest.next(); next.done !== true; next = await rest.next()) yield next.value
  }
  return new Proxy(req, {
    get(target, key) {
      if (key === Symbol.asyncIterator) return body
      if (key === PARSE_ERROR) return parseError
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

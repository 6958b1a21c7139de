import { text } from 'node:stream/consumers'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ApiClient } from '../client/api-client.js'
import { classifyApiError } from '../client/api-errors.js'
import { clientFlags, resolvePaths } from '../client/config.js'
import { clientAgentVersion } from '../client/constants.js'
import { checkApiKey, loadHostKeys, readApiKeyFile, storeApiKey } from '../client/key-file.js'
import { ConfigError } from '../lib/errors.js'
import { boolFlag, parseFlags, renderHelp } from '../lib/flags.js'
import { type Logger, logger } from '../lib/logger.js'
import { VERSION } from '../lib/version.js'
import type { Command } from './main.js'

/**
 * The flags of `punchr login` that name the same things as `punchr client`'s also read the
 * client's environment variables (PUNCHR_CLIENT_API_KEY_FILE, …), so that login stores the key
 * where a client started with the same environment looks for it.
 */
const alsoClientEnv = <T extends { name: string }>(spec: T): T & { aliasEnv: string[] } => ({
  ...spec,
  aliasEnv: [`PUNCHR_CLIENT_${spec.name.toUpperCase().replace(/-/g, '_')}`],
})

const loginFlags = {
  apiKeyFile: { ...alsoClientEnv(clientFlags.apiKeyFile), group: 'Where the key goes' },
  check: boolFlag(
    'check',
    "Before storing the key, ask the server's Register whether it takes it (registers the first host identity of --key-file with it, as punchr client would)",
    false,
    { group: 'Check' },
  ),
  server: { ...alsoClientEnv(clientFlags.server), group: 'Check' },
  tls: { ...alsoClientEnv(clientFlags.tls), group: 'Check' },
  tlsSkipVerify: { ...alsoClientEnv(clientFlags.tlsSkipVerify), group: 'Check' },
  keyFile: { ...alsoClientEnv(clientFlags.keyFile), group: 'Check' },
}

const USAGE =
  'punchr login <key> [--api-key-file <path>] [--check --server host:port]   (- reads the key from stdin)'

/**
 * `punchr login <key>`: stores the API key where `punchr client` reads it (the API key file,
 * mode 0600), so that it is not typed on every start nor left in the shell's history of
 * `--api-key`. `-` reads it from stdin instead of the command line.
 */
export const runLogin: Command = async (argv, env) => {
  const { values, positionals, help } = parseFlags('login', loginFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('login', USAGE, loginFlags))
    return 0
  }
  if (positionals.length === 0) throw new ConfigError(`no key given; usage: ${USAGE}`)
  if (positionals.length > 1)
    throw new ConfigError(`one key only (an API key is one word without spaces); usage: ${USAGE}`)
  const key = checkApiKey(positionals[0] === '-' ? await text(process.stdin) : positionals[0]!)
  const log = logger('login')
  const paths = resolvePaths({ ...values, queueDir: '' }, env)

  if (values.check) {
    const problem = await registerWith(key, values, paths.keyFile, log)
    if (problem !== undefined) {
      process.stderr.write(`punchr login: ${problem}; the key was not stored\n`)
      return 1
    }
    process.stdout.write(`the server at ${values.server} takes the key\n`)
  }
  const previous = await readApiKeyFile(paths.apiKeyFile, log).catch(() => undefined)
  await storeApiKey(paths.apiKeyFile, key)
  const replaced = previous !== undefined && previous !== key ? ' (it replaces the key that was there)' : ''
  process.stdout.write(`API key stored in ${paths.apiKeyFile}, mode 0600${replaced}; punchr client uses it\n`)
  return 0
}

/**
 * Register with the first host identity the client will use: no stray host on the server,
 * and a host already bound to another key fails here the way the client would fail. Returns
 * what went wrong, or undefined when the server took the key.
 */
async function registerWith(
  key: string,
  values: { server: string; tls: boolean; tlsSkipVerify: boolean },
  keyFile: string,
  log: Logger,
): Promise<string | undefined> {
  const [hostKey] = await loadHostKeys(keyFile, 1, log)
  const api = new ApiClient({ server: values.server, tls: values.tls, tlsSkipVerify: values.tlsSkipVerify })
  try {
    await api.register({
      clientId: peerIdFromPrivateKey(hostKey!).toMultihash().bytes,
      agentVersion: clientAgentVersion(VERSION, ['tcp', 'quic']),
      protocols: [],
      apiKey: key,
    })
    return undefined
  } catch (err) {
    const error = classifyApiError(err)
    if (error.kind === 'transient')
      return `could not reach the server at ${values.server} (${error.code}: ${error.message}); try again, or store the key without --check`
    return `the server at ${values.server} refused the key (${error.code}): ${error.message}`
  } finally {
    api.close()
  }
}

/**
 * What `punchr client` says when it has no API key: a volunteer's first start. One paragraph:
 * that a key is needed, where it comes from, and where to put it.
 */
export function noApiKeyMessage(apiKeyFile: string, customFile: boolean): string {
  const login = customFile ? `punchr login <key> --api-key-file ${apiKeyFile}` : 'punchr login <key>'
  return [
    'no API key yet. The server takes results only from volunteers with a key.',
    "Ask the campaign's operator for one (they run `punchr keys add --user <your name>`",
    'on the server); if the server runs with --open-registration, a key you make up',
    '(one long random word) is registered the first time the client uses it.',
    `Store it with \`${login}\` (it goes to ${apiKeyFile}, mode 0600),`,
    'or pass it with --api-key <key> or PUNCHR_CLIENT_API_KEY=<key>.',
  ].join('\n')
}

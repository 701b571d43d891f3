import { validateHeaderValue } from 'node:http'
import { dirname, resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type YAMLMap, type YAMLParseError } from 'yaml'
import { readBytes, readText, type FileRead } from './read-text.js'

/**
 * Prometheus exporter-toolkit's `web-config.yml`: TLS, basic auth and response headers, in the
 * format operators already write for Prometheus' own exporters. Unknown keys are errors.
 */

export const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const
export type ClientAuthType = typeof CLIENT_AUTH_TYPES[number]

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const
type TlsVersion = typeof TLS_VERSIONS[keyof typeof TLS_VERSIONS]

/** Go's names of the cipher suites it allows configuring (TLS 1.2 and below), as OpenSSL names them. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305'
}
/** TLS 1.3 suites: Go accepts their names and, as Go does, they change nothing. */
const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' }

/** The response headers exporter-toolkit allows, with the values it allows (any, when absent). */
const HEADERS: Record<string, RegExp | undefined> = {
  'Content-Security-Policy': undefined,
  'X-Frame-Options': /^(deny|sameorigin)$/i,
  'X-Content-Type-Options': /^nosniff$/i,
  'X-XSS-Protection': undefined,
  'Strict-Transport-Security': undefined
}

/**
 * The bcrypt forms bcryptjs checks correctly. `$2x$` (crypt_blowfish's marker for hashes made by
 * its old, wrong 8-bit handling) is not one of them, nor bcrypt's original `$2$`: Go reads it, but
 * bcryptjs compares only 60-character hashes, so its user could never log in.
 */
const BCRYPT_HASH = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/
const ORIGINAL_BCRYPT_HASH = /^\$2\$\d{2}\$[./A-Za-z0-9]{53}$/
/**
 * bcrypt's own floor, and a ceiling that keeps a check within a scrape's time: at cost 15 one
 * comparison takes about 2.5 s here, each step up doubles it (31 would take days per check).
 */
export const BCRYPT_COSTS = { min: 4, max: 15 } as const
/** Names that can stand in a message as they are; anything else is shown by its line and column. */
const PLAIN_NAME = /^[\w.@-]{1,40}$/
/** A Go `time.Duration` as exporter-toolkit reads it: `1s`, `500ms`, `1m30s`, `1.5h`. */
const GO_DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g
const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

export interface TlsSettings {
  cert: string
  key: string
  ca: string | undefined
  clientAuth: ClientAuthType
  clientAllowedSans: string[]
  minVersion: TlsVersion
  maxVersion: TlsVersion
  ciphers: string | undefined
  honorCipherOrder: boolean
  ecdhCurve: string | undefined
}

/** exporter-toolkit's token bucket over all requests: one token every `intervalMs`, `burst` at most. */
export interface RateLimit {
  intervalMs: number
  burst: number
}

export interface WebConfig {
  tls: TlsSettings | undefined
  /** User name to bcrypt hash; empty: no authentication. */
  users: ReadonlyMap<string, string>
  headers: Readonly<Record<string, string>>
  rateLimit: RateLimit | undefined
}

export const NO_WEB_CONFIG: WebConfig = { tls: undefined, users: new Map(), headers: {}, rateLimit: undefined }

/** A problem in a web config file; the message names the key and never repeats a secret. */
export class WebConfigError extends Error {
  override name = 'WebConfigError'
}

type Table = Record<string, unknown>

/**
 * Whether a key is there. Present with no value (`key:`, `key: ~`, `key: null`) it is an error:
 * that is what a file caught halfway through writing looks like, and read as "not set" it turned
 * TLS or auth off. Go's yaml, and so exporter-toolkit, reads it as "not set"; this is stricter on purpose.
 */
function given (value: unknown, what: string): boolean {
  if (value === null) throw new WebConfigError(`${what} has no value (a half-written file?); give it one, or leave the key out`)
  return value !== undefined
}

function table (value: unknown, where: string): Table {
  if (!given(value, where)) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new WebConfigError(`${where} must be a mapping`)
  return value as Table
}

/** A string value; empty or blank it is an error: a template that rendered nothing turned a setting off. */
function text (value: unknown, what: string, type: string): string | undefined {
  if (!given(value, what)) return undefined
  if (typeof value !== 'string') throw new WebConfigError(`${what} must be ${type}`)
  if (value.trim() === '') throw new WebConfigError(`${what} is empty; give it a value, or leave it out`)
  return value
}

/** How a key is named in a message: by its path when it is a plain name, else by its position (it may be a secret). */
function keyAt (where: string, key: string, what: string, position: { line: number, col: number } | undefined): string {
  if (PLAIN_NAME.test(key)) return `${where}${key}`
  const at = position === undefined ? '' : ` at line ${position.line}, column ${position.col}`
  return `${where === '' ? '' : `${where.slice(0, -1)}: `}${what}${at}`
}

/** A key's name as the mapping YAML turns into holds it: `1` and `"1"` are one key there, and `~` is `""`. */
function keyName (key: unknown, document: Document): string | undefined {
  // Aliases resolve: an unresolved one was refused when the document was read.
  const node = isAlias(key) ? key.resolve(document) : key
  return isScalar(node) ? (node.value === null ? '' : String(node.value)) : undefined
}

/** Where a parsed key starts: even an empty one (`: x`) is a node with a position. */
const keyStart = (pair: Pair, lines: LineCounter): { line: number, col: number } => lines.linePos((pair.key as Node).range![0])

const isMergeKey = (key: unknown): boolean => isScalar(key) && typeof key.value === 'symbol'

/**
 * Where a key stands, for a message: `where` and the key when the key is a plain name, else its
 * line and column, since a key that is not a name may be a secret written in the wrong place.
 */
type Locate = (where: string, key: string, what?: string) => string

function locator (document: Document, lines: LineCounter): Locate {
  return (where, key, what = 'the key') => {
    const parent = document.getIn(where.split('.').filter(Boolean), true)
    // Not found when the mapping came through an alias or a merge: no position then.
    const pair = isMap(parent) ? parent.items.find((item) => keyName(item.key, document) === key) : undefined
    return keyAt(where, key, what, pair === undefined ? undefined : keyStart(pair, lines))
  }
}

/**
 * Refuses a key set twice in one mapping, however YAML allows it: written twice, once through an
 * alias, merged in by `<<` (which Go's yaml, and so exporter-toolkit, refuses too when a key is
 * also written), or as two spellings of one name (`1` and `"1"`). Read as YAML reads it, the last
 * one would silently win. Also refuses a key that is a list or a mapping: keys here are names.
 */
function refuseRepeatedKeys (node: unknown, where: string, document: Document, lines: LineCounter): void {
  if (isSeq(node)) {
    node.items.forEach((item, index) => refuseRepeatedKeys(item, `${where.slice(0, -1)}[${index}].`, document, lines))
    return
  }
  if (!isMap(node)) return
  const seen = new Map<string, number>()
  const add = (name: string, pair: Pair): void => {
    const position = keyStart(pair, lines)
    const first = seen.get(name)
    if (first !== undefined) throw new WebConfigError(`${keyAt(where, name, 'the key', position)} is set twice (lines ${first} and ${position.line})`)
    seen.set(name, position.line)
  }
  const merged = (source: unknown, pair: Pair): void => {
    // Only mappings can be merged: anything else was refused when the document was read.
    const map = (isAlias(source) ? source.resolve(document) : source) as YAMLMap
    for (const item of map.items) {
      if (isMergeKey(item.key)) mergeSources(item.value).forEach((inner) => merged(inner, pair))
      else add(keyName(item.key, document)!, pair)
    }
  }
  for (const pair of node.items) {
    if (isMergeKey(pair.key)) {
      // The merged keys land here; an inline mapping's own keys are checked first.
      refuseRepeatedKeys(pair.value, where, document, lines)
      mergeSources(pair.value).forEach((source) => merged(source, pair))
      continue
    }
    const name = keyName(pair.key, document)
    if (name === undefined) {
      const position = keyStart(pair, lines)
      throw new WebConfigError(`${where === '' ? '' : `${where.slice(0, -1)}: `}the key at line ${position.line}, column ${position.col} is a list or a mapping; keys are names`)
    }
    add(name, pair)
    // Under a key that is not a plain name nothing can be valid: that key is refused later.
    if (PLAIN_NAME.test(name)) refuseRepeatedKeys(pair.value, `${where}${name}.`, document, lines)
  }
}

/** The mappings a merge key's value brings in: one, or a list of them. */
function mergeSources (value: unknown): unknown[] {
  return isSeq(value) ? value.items : [value]
}

function onlyKeys (object: Table, allowed: readonly string[], where: string, locate: Locate): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new WebConfigError(`${locate(where, key)} is not a known key; known: ${allowed.join(', ')}`)
  }
}

function string (object: Table, key: string, where: string): string | undefined {
  return text(object[key], `${where}${key}`, 'a string')
}

function strings (object: Table, key: string, where: string): string[] {
  const value = object[key]
  if (!given(value, `${where}${key}`)) return []
  if (!Array.isArray(value)) throw new WebConfigError(`${where}${key} must be a list of strings`)
  return value.map((item, index) => text(item, `${where}${key}[${index}]`, 'a string')!)
}

/** The value's mapping in `allowed`; the message names the key, never what was written there. */
function oneOf<T extends string> (value: string | undefined, allowed: Record<string, T>, fallback: T, what: string): T {
  if (value === undefined) return fallback
  const mapped = Object.hasOwn(allowed, value) ? allowed[value] : undefined
  if (mapped === undefined) throw new WebConfigError(`${what} is not supported; supported: ${Object.keys(allowed).join(', ')}`)
  return mapped
}

/** A PEM given inline, or the contents of the file naming it; never both. */
async function pem (object: Table, inlineKey: string, fileKey: string, baseDir: string, where: string): Promise<string | undefined> {
  const inline = string(object, inlineKey, where)
  const file = string(object, fileKey, where)
  if (inline !== undefined && file !== undefined) throw new WebConfigError(`${where}${inlineKey} and ${where}${fileKey} are both set; set one`)
  if (file === undefined) return inline
  // The reason only: what was written may be the PEM itself, pasted where its file name belongs.
  return await readText(resolve(baseDir, file), (reason) => new WebConfigError(`${where}${fileKey}: ${reason}`))
}

const TLS_KEYS = ['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'client_allowed_sans', 'min_version', 'max_version', 'cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences']

async function tlsSettings (raw: Table, baseDir: string, locate: Locate): Promise<TlsSettings> {
  const where = 'tls_server_config.'
  onlyKeys(raw, TLS_KEYS, where, locate)
  const cert = await pem(raw, 'cert', 'cert_file', baseDir, where)
  const key = await pem(raw, 'key', 'key_file', baseDir, where)
  if (cert === undefined) throw new WebConfigError(`${where}cert_file (or cert) is required`)
  if (key === undefined) throw new WebConfigError(`${where}key_file (or key) is required`)
  const ca = await pem(raw, 'client_ca', 'client_ca_file', baseDir, where)
  const clientAuth = oneOf(string(raw, 'client_auth_type', where), Object.fromEntries(CLIENT_AUTH_TYPES.map((type) => [type, type])), 'NoClientCert', `${where}client_auth_type`)
  if (ca !== undefined && clientAuth === 'NoClientCert') throw new WebConfigError(`${where}client_ca_file is set but client_auth_type is NoClientCert; set a client auth type`)
  if ((clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert') && ca === undefined) {
    throw new WebConfigError(`${where}client_auth_type ${clientAuth} needs client_ca_file to verify against`)
  }
  const clientAllowedSans = strings(raw, 'client_allowed_sans', where)
  // exporter-toolkit checks SANs against an empty list too, and so refuses every client.
  if (raw.client_allowed_sans !== undefined && clientAllowedSans.length === 0) {
    throw new WebConfigError(`${where}client_allowed_sans is an empty list: exporter-toolkit would refuse every client certificate; list the SANs to allow, or leave the key out to allow any`)
  }
  if (clientAllowedSans.length > 0 && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    throw new WebConfigError(`${where}client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert`)
  }
  const minVersion = oneOf(string(raw, 'min_version', where), TLS_VERSIONS, 'TLSv1.2', `${where}min_version`)
  const maxVersion = oneOf(string(raw, 'max_version', where), TLS_VERSIONS, 'TLSv1.3', `${where}max_version`)
  if (minVersion > maxVersion) throw new WebConfigError(`${where}min_version is above max_version`)
  const suites = [...strings(raw, 'cipher_suites', where).entries()].filter(([, suite]) => !TLS13_SUITES.has(suite))
  const curves = strings(raw, 'curve_preferences', where)
  const preferServer = given(raw.prefer_server_cipher_suites, `${where}prefer_server_cipher_suites`) ? raw.prefer_server_cipher_suites : true
  if (typeof preferServer !== 'boolean') throw new WebConfigError(`${where}prefer_server_cipher_suites must be true or false`)
  try {
    createSecureContext({ cert, key, ca })
  } catch (error) {
    // OpenSSL's words for a bad certificate or key; they never quote the key itself.
    throw new WebConfigError(`${where}the certificate, key or client CA cannot be used: ${(error as Error).message}`)
  }
  return {
    cert,
    key,
    ca,
    clientAuth,
    clientAllowedSans,
    minVersion,
    maxVersion,
    ciphers: suites.length === 0 ? undefined : suites.map(([index, suite]) => oneOf(suite, CIPHER_SUITES, '', `${where}cipher_suites[${index}]`)).join(':'),
    honorCipherOrder: preferServer,
    ecdhCurve: curves.length === 0 ? undefined : curves.map((curve, index) => oneOf(curve, CURVES, '', `${where}curve_preferences[${index}]`)).join(':')
  }
}

/** Whether Node can send `value` as a header: printable Latin-1 and tabs, no CR or LF. */
function sendable (name: string, value: string): boolean {
  try {
    validateHeaderValue(name, value)
    return true
  } catch {
    return false
  }
}

function headers (raw: Table, locate: Locate): Record<string, string> {
  const where = 'http_server_config.'
  onlyKeys(raw, ['http2', 'headers'], where, locate)
  if (given(raw.http2, `${where}http2`) && typeof raw.http2 !== 'boolean') throw new WebConfigError(`${where}http2 must be true or false`)
  const wanted = table(raw.headers, `${where}headers`)
  onlyKeys(wanted, Object.keys(HEADERS), `${where}headers.`, locate)
  const result: Record<string, string> = {}
  for (const [name, allowed] of Object.entries(HEADERS)) {
    const value = string(wanted, name, `${where}headers.`)
    if (value === undefined) continue
    if (allowed !== undefined && !allowed.test(value)) throw new WebConfigError(`${where}headers.${name} has an invalid value; allowed: ${allowed.source.replace(/^\^\(?|\)?\$$/g, '').replace('|', ', ')}`)
    // Checked here, or every answer would be a 500 from Node's own check, with nothing logged.
    if (!sendable(name, value)) throw new WebConfigError(`${where}headers.${name}: a header value may hold only printable Latin-1 characters and tabs, no line breaks`)
    result[name] = value
  }
  return result
}

function users (raw: Table, locate: Locate): Map<string, string> {
  const result = new Map<string, string>()
  for (const [user, hash] of Object.entries(raw)) {
    const who = locate('basic_auth_users.', user, 'the user')
    // A template that rendered nothing, or `~`, which YAML makes an empty name.
    if (user.trim() === '') throw new WebConfigError(`${who} has an empty name`)
    // RFC 7617: the name ends at the first colon, so this user could never log in (nor can they in exporter-toolkit).
    if (user.includes(':')) throw new WebConfigError(`${who} has a ":" in its name, which Basic auth cannot send (the name ends at the first ":")`)
    given(hash, who)
    // The hash is a secret too: the message names the user, never the value.
    const match = typeof hash === 'string' ? BCRYPT_HASH.exec(hash) : null
    const cost = Number(match?.[1])
    const problem = match === null ? (ORIGINAL_BCRYPT_HASH.test(hash as string) ? 'is of bcrypt\'s original $2$ form, which cannot be checked here' : 'is not a bcrypt hash') : cost < BCRYPT_COSTS.min || cost > BCRYPT_COSTS.max ? `has bcrypt cost ${cost}; allowed: ${BCRYPT_COSTS.min} to ${BCRYPT_COSTS.max}` : undefined
    if (problem !== undefined) throw new WebConfigError(`${who} ${problem} (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`)
    result.set(user, hash as string)
  }
  return result
}

/** Milliseconds of a Go duration; a bare 0 is allowed too, as YAML gives it to Go. */
function duration (value: unknown, what: string): number {
  if (!given(value, what) || value === 0) return 0
  if (typeof value !== 'string' || !GO_DURATION.test(value)) throw new WebConfigError(`${what} is not a duration; write it as Go does, such as 1s, 500ms or 1m30s`)
  let total = 0
  for (const [, amount, unit] of value.matchAll(DURATION_PART)) total += Number(amount) * DURATION_MS[unit!]!
  return total
}

function rateLimit (raw: Table, locate: Locate): RateLimit | undefined {
  const where = 'rate_limit.'
  onlyKeys(raw, ['interval', 'burst'], where, locate)
  const intervalMs = duration(raw.interval, `${where}interval`)
  const burst = given(raw.burst, `${where}burst`) ? raw.burst : 0
  if (typeof burst !== 'number' || !Number.isSafeInteger(burst) || burst < 0) throw new WebConfigError(`${where}burst must be a whole number`)
  // As exporter-toolkit: interval 0 turns the limit off.
  if (intervalMs === 0) return undefined
  // exporter-toolkit would start and refuse every request; nobody means that.
  if (burst === 0) throw new WebConfigError(`${where}burst must be 1 or more when ${where}interval is set (0 would refuse every request)`)
  return { intervalMs, burst }
}

/** Validates a web config document; `file` names it in errors, `baseDir` anchors its relative paths. */
export async function parseWebConfig (text: string, file: string, baseDir = dirname(resolve(file))): Promise<WebConfig> {
  try {
    const lines = new LineCounter()
    // Warnings off: the yaml library prints them with an excerpt of the file, which may hold a secret.
    // Merge keys (`<<`) as Go's yaml reads them for exporter-toolkit; keys set twice are refused below, naming the key.
    const document = parseDocument(text, { uniqueKeys: false, merge: true, logLevel: 'error', lineCounter: lines })
    let raw: unknown
    try {
      const [syntaxError] = document.errors
      if (syntaxError !== undefined) throw syntaxError
      raw = document.toJS({ maxAliasCount: 100 })
    } catch (error) {
      // Syntax errors carry a position; alias errors (unresolved, or too many: a "billion laughs") do not.
      // The first line, cut before any ": " that would quote the file (an alias name, a token).
      const line = (error as YAMLParseError).linePos?.[0].line
      const problem = (error as Error).message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '').replace(/: .*$/, '')
      throw new WebConfigError(`${line === undefined ? '' : `line ${line}: `}invalid YAML: ${problem}`)
    }
    // A half-written file must not turn TLS and auth off: only an explicit `{}` means "nothing".
    if (raw === null || raw === undefined) throw new WebConfigError('the web config file is empty; to serve without TLS or basic auth, remove web_config_file (or --web-config-file), or write {} in it')
    refuseRepeatedKeys(document.contents, '', document, lines)
    const locate = locator(document, lines)
    const root = table(raw, 'the web config')
    onlyKeys(root, ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'], '', locate)
    const tls = root.tls_server_config === undefined ? undefined : await tlsSettings(table(root.tls_server_config, 'tls_server_config'), baseDir, locate)
    return {
      tls,
      users: users(table(root.basic_auth_users, 'basic_auth_users'), locate),
      headers: headers(table(root.http_server_config, 'http_server_config'), locate),
      rateLimit: rateLimit(table(root.rate_limit, 'rate_limit'), locate)
    }
  } catch (error) {
    throw new WebConfigError(`${file}: ${(error as Error).message}`)
  }
}

/** Reads a web config file and the certificate files it names, so a reload picks up rotated ones. */
export async function loadWebConfig (file: string): Promise<WebConfig> {
  return (await readWebConfig(file)).value
}

/** As `loadWebConfig`, with the bytes read; a file that `inForce` begins with is refused (see readBytes). */
export async function readWebConfig (file: string, inForce?: Buffer): Promise<FileRead<WebConfig>> {
  const bytes = await readBytes(file, (reason) => new WebConfigError(`${file}: ${reason}`), inForce)
  return { value: await parseWebConfig(bytes.toString('utf8'), file), bytes }
}

import { dirname, resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import { parse as parseYaml, type YAMLParseError } from 'yaml'
import { readText } from './read-text.js'

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

const BCRYPT_HASH = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/

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

export interface WebConfig {
  tls: TlsSettings | undefined
  /** User name to bcrypt hash; empty: no authentication. */
  users: ReadonlyMap<string, string>
  headers: Readonly<Record<string, string>>
}

export const NO_WEB_CONFIG: WebConfig = { tls: undefined, users: new Map(), headers: {} }

/** A problem in a web config file; the message names the key and never repeats a secret. */
export class WebConfigError extends Error {
  override name = 'WebConfigError'
}

type Table = Record<string, unknown>

function table (value: unknown, where: string): Table {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new WebConfigError(`${where} must be a mapping`)
  return value as Table
}

/** A key as it can stand in a one-line message: quoted when it is not a plain word. */
function shown (key: string): string {
  return /^[\w.-]+$/.test(key) ? key : JSON.stringify(key)
}

function onlyKeys (object: Table, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new WebConfigError(`${where}${shown(key)} is not a known key; known: ${allowed.join(', ')}`)
  }
}

function string (object: Table, key: string, where: string): string | undefined {
  const value = object[key]
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new WebConfigError(`${where}${key} must be a string`)
  return value
}

function strings (object: Table, key: string, where: string): string[] {
  const value = object[key] ?? []
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new WebConfigError(`${where}${key} must be a list of strings`)
  return value as string[]
}

function oneOf<T extends string> (value: string | undefined, allowed: Record<string, T>, fallback: T, what: string): T {
  if (value === undefined) return fallback
  const mapped = allowed[value]
  if (mapped === undefined) throw new WebConfigError(`${what} ${JSON.stringify(value)} is not supported; supported: ${Object.keys(allowed).join(', ')}`)
  return mapped
}

/** A PEM given inline, or the contents of the file naming it; never both. */
async function pem (object: Table, inlineKey: string, fileKey: string, baseDir: string, where: string): Promise<string | undefined> {
  const inline = string(object, inlineKey, where)
  const file = string(object, fileKey, where)
  if (inline !== undefined && file !== undefined) throw new WebConfigError(`${where}${inlineKey} and ${where}${fileKey} are both set; set one`)
  if (file === undefined) return inline
  return await readText(resolve(baseDir, file), (reason) => new WebConfigError(`${where}${fileKey}: ${file}: ${reason}`))
}

const TLS_KEYS = ['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'client_allowed_sans', 'min_version', 'max_version', 'cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences']

async function tlsSettings (raw: Table, baseDir: string): Promise<TlsSettings> {
  const where = 'tls_server_config.'
  onlyKeys(raw, TLS_KEYS, where)
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
  if (clientAllowedSans.length > 0 && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    throw new WebConfigError(`${where}client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert`)
  }
  const minVersion = oneOf(string(raw, 'min_version', where), TLS_VERSIONS, 'TLSv1.2', `${where}min_version`)
  const maxVersion = oneOf(string(raw, 'max_version', where), TLS_VERSIONS, 'TLSv1.3', `${where}max_version`)
  if (minVersion > maxVersion) throw new WebConfigError(`${where}min_version is above max_version`)
  const suites = strings(raw, 'cipher_suites', where).filter((suite) => !TLS13_SUITES.has(suite))
  const curves = strings(raw, 'curve_preferences', where)
  const preferServer = raw.prefer_server_cipher_suites ?? true
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
    ciphers: suites.length === 0 ? undefined : suites.map((suite) => oneOf(suite, CIPHER_SUITES, '', `${where}cipher_suites entry`)).join(':'),
    honorCipherOrder: preferServer,
    ecdhCurve: curves.length === 0 ? undefined : curves.map((curve) => oneOf(curve, CURVES, '', `${where}curve_preferences entry`)).join(':')
  }
}

function headers (raw: Table): Record<string, string> {
  const where = 'http_server_config.'
  onlyKeys(raw, ['http2', 'headers'], where)
  if (raw.http2 !== undefined && typeof raw.http2 !== 'boolean') throw new WebConfigError(`${where}http2 must be true or false`)
  const wanted = table(raw.headers, `${where}headers`)
  onlyKeys(wanted, Object.keys(HEADERS), `${where}headers.`)
  const result: Record<string, string> = {}
  for (const [name, allowed] of Object.entries(HEADERS)) {
    const value = string(wanted, name, `${where}headers.`)
    if (value === undefined) continue
    if (allowed !== undefined && !allowed.test(value)) throw new WebConfigError(`${where}headers.${name} has an invalid value; allowed: ${allowed.source.replace(/^\^\(?|\)?\$$/g, '').replace('|', ', ')}`)
    result[name] = value
  }
  return result
}

function users (raw: Table): Map<string, string> {
  const result = new Map<string, string>()
  for (const [user, hash] of Object.entries(raw)) {
    // The hash is a secret too: the message names the user, never the value.
    if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) throw new WebConfigError(`basic_auth_users.${shown(user)} is not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`)
    result.set(user, hash)
  }
  return result
}

/** Validates a web config document; `file` names it in errors, `baseDir` anchors its relative paths. */
export async function parseWebConfig (text: string, file: string, baseDir = dirname(resolve(file))): Promise<WebConfig> {
  try {
    let raw: unknown
    try {
      // Warnings off: the yaml library prints them with an excerpt of the file, which may hold a secret.
      raw = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100, logLevel: 'error' })
    } catch (error) {
      // Syntax errors carry a position; alias errors (unresolved, or too many: a "billion laughs") do not.
      const line = (error as YAMLParseError).linePos?.[0].line
      const problem = (error as Error).message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '')
      throw new WebConfigError(`${line === undefined ? '' : `line ${line}: `}invalid YAML: ${problem}`)
    }
    const root = table(raw, 'the web config')
    onlyKeys(root, ['tls_server_config', 'http_server_config', 'basic_auth_users'], '')
    const tls = root.tls_server_config === undefined || root.tls_server_config === null ? undefined : await tlsSettings(table(root.tls_server_config, 'tls_server_config'), baseDir)
    return { tls, users: users(table(root.basic_auth_users, 'basic_auth_users')), headers: headers(table(root.http_server_config, 'http_server_config')) }
  } catch (error) {
    throw new WebConfigError(`${file}: ${(error as Error).message}`)
  }
}

/** Reads a web config file and the certificate files it names, so a reload picks up rotated ones. */
export async function loadWebConfig (file: string): Promise<WebConfig> {
  return await parseWebConfig(await readText(file, (reason) => new WebConfigError(`${file}: ${reason}`)), file)
}

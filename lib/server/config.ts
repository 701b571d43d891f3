import { dirname, resolve } from 'node:path'
import { parse, type TomlError } from 'smol-toml'
import { parseAddress, type ListenAddress } from './address.js'
import type { RunnerConfig } from '../tracker/build-tracker.js'
import { quote } from '../tracker/describe.js'
import { readBytes, type FileRead } from './read-text.js'
import { parseNaming, type Naming } from '../plugin/naming.js'
import { ConfigError } from './errors.js'

/** GitLab Runner's log levels (logrus': any case), and the pino level each becomes. */
const LOG_LEVELS = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'fatal', panic: 'fatal' } as const
export type LogLevel = typeof LOG_LEVELS[keyof typeof LOG_LEVELS]

/** GitLab Runner runs one build at a time when `concurrent` is not set. */
const DEFAULT_CONCURRENT = 1

/** The part of a GitLab Runner `config.toml` this server uses; everything else is ignored. */
export interface RunnerManagerConfig {
  /** From `metrics_server` or its alias `listen_address`; undefined: the metrics server is disabled. */
  metricsServer: ListenAddress | undefined
  concurrent: number
  logLevel: LogLevel
  /** Resolved against the config file's folder. */
  webConfigFile: string | undefined
  runners: RunnerConfig[]
  /** `metrics_naming`: `runner` or `gitlab-runner` names; undefined when not set. */
  metricsNaming?: Naming
}

export { ConfigError }

type Table = Record<string, unknown>

function kind (value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a date'
  return value === null ? 'null' : `a ${typeof value === 'object' ? 'table' : typeof value}`
}

function optionalString (table: Table, key: string, where: string): string | undefined {
  const value = table[key]
  if (value === undefined || typeof value === 'string') return value
  throw new ConfigError(`${where}${key} must be a string, got ${kind(value)}`)
}

function optionalCount (table: Table, key: string, where: string): number | undefined {
  const value = table[key]
  if (value === undefined) return undefined
  if (typeof value !== 'number') throw new ConfigError(`${where}${key} must be an integer, got ${kind(value)}`)
  if (!Number.isInteger(value)) throw new ConfigError(`${where}${key} must be an integer, got ${value}`)
  if (value < 0) throw new ConfigError(`${where}${key} must not be negative, got ${value}`)
  return value
}

function listenAddress (table: Table): ListenAddress | undefined {
  const metricsServer = optionalString(table, 'metrics_server', '')
  const listenAddress = optionalString(table, 'listen_address', '')
  if (metricsServer !== undefined && listenAddress !== undefined && metricsServer !== listenAddress) {
    throw new ConfigError('metrics_server and listen_address are aliases and disagree; set one of them')
  }
  const key = metricsServer !== undefined ? 'metrics_server' : 'listen_address'
  const address = metricsServer ?? listenAddress
  if (address === undefined || address === '') return undefined
  try {
    return parseAddress(address)
  } catch (error) {
    throw new ConfigError(`${key}: ${(error as Error).message}`)
  }
}

function logLevel (table: Table): LogLevel {
  const level = optionalString(table, 'log_level', '') ?? 'info'
  const mapped = LOG_LEVELS[level.toLowerCase() as keyof typeof LOG_LEVELS]
  if (mapped === undefined) throw new ConfigError(`log_level must be one of ${Object.keys(LOG_LEVELS).join(', ')} (any case)`)
  return mapped
}

/**
 * GitLab Runner's `[[runners]]`: a name (`runners[N]` when empty or missing), and a `limit` where 0 means no limit. Entries that
 * share a name share its series, so their limits add up (and one without a limit lifts it).
 */
function runners (table: Table): RunnerConfig[] {
  const entries = table.runners ?? []
  if (!Array.isArray(entries)) throw new ConfigError(`runners must be an array of tables ([[runners]]), got ${kind(entries)}`)
  const limits = new Map<string, number | undefined>()
  const requestConcurrencies = new Map<string, number>()
  entries.forEach((entry: unknown, index) => {
    const where = `runners[${index}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${where} must be a table, got ${kind(entry)}`)
    // GitLab Runner loads runners with no name (and labels them by a token prefix); here the
    // label is the runner's place in the file, so no part of a token ever reaches the output.
    const name = optionalString(entry as Table, 'name', `${where}.`) || where
    const limit = optionalCount(entry as Table, 'limit', `${where} (${quote(name)}).`) || undefined
    // GitLab Runner's request_concurrency: below 1 means 1; same-named entries add up, as their limits do.
    const requestConcurrency = Math.max(1, optionalCount(entry as Table, 'request_concurrency', `${where} (${quote(name)}).`) ?? 1)
    requestConcurrencies.set(name, (requestConcurrencies.get(name) ?? 0) + requestConcurrency)
    if (!limits.has(name)) {
      limits.set(name, limit)
    } else {
      const previous = limits.get(name)
      limits.set(name, previous === undefined || limit === undefined ? undefined : previous + limit)
    }
  })
  return Array.from(limits, ([name, limit]) => {
    const requestConcurrency = requestConcurrencies.get(name)!
    return { name, ...(limit === undefined ? {} : { limit }), ...(requestConcurrency === 1 ? {} : { requestConcurrency }) }
  })
}

function metricsNaming (table: Table): { metricsNaming?: Naming } {
  const naming = optionalString(table, 'metrics_naming', '')
  if (naming === undefined) return {}
  try {
    return { metricsNaming: parseNaming(naming, 'metrics_naming') }
  } catch (error) {
    throw new ConfigError((error as Error).message)
  }
}

/** Validates a parsed config.toml (a plain object). `baseDir` anchors relative file paths. */
export function configFromObject (raw: unknown, baseDir = process.cwd()): RunnerManagerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`the config must be a table, got ${kind(raw)}`)
  const table = raw as Table
  const webConfigFile = optionalString(table, 'web_config_file', '')
  return {
    metricsServer: listenAddress(table),
    concurrent: optionalCount(table, 'concurrent', '') ?? DEFAULT_CONCURRENT,
    logLevel: logLevel(table),
    webConfigFile: webConfigFile === undefined || webConfigFile === '' ? undefined : resolve(baseDir, webConfigFile),
    runners: runners(table),
    ...metricsNaming(table)
  }
}

function tomlProblem (error: TomlError): string {
  // The first line only: smol-toml follows it with an excerpt of the file, which may hold a token.
  const problem = error.message.split('\n', 1)[0]!.replace(/^Invalid TOML document: /, '')
  return `line ${error.line}, column ${error.column}: invalid TOML: ${problem}`
}

/** Parses config.toml text; every problem is a ConfigError naming `file`. */
export function parseConfig (text: string, file: string): RunnerManagerConfig {
  let raw: unknown
  try {
    raw = parse(text)
  } catch (error) {
    // smol-toml reports every problem, nesting too deep included, as a TomlError.
    throw new ConfigError(`${file}: ${tomlProblem(error as TomlError)}`)
  }
  try {
    return configFromObject(raw, dirname(resolve(file)))
  } catch (error) {
    throw new ConfigError(`${file}: ${(error as Error).message}`)
  }
}

/**
 * Reads and validates a GitLab Runner style config.toml. An empty file is refused: it is what
 * an editor or a deploy tool leaves halfway through writing, and read as every default it would
 * turn the metrics server off at the next reload.
 */
export async function loadConfig (file: string): Promise<RunnerManagerConfig> {
  return (await readConfig(file)).value
}

/** As `loadConfig`, with the bytes read; a file that `inForce` begins with is refused (see readBytes). */
export async function readConfig (file: string, inForce?: Buffer): Promise<FileRead<RunnerManagerConfig>> {
  const bytes = await readBytes(file, (reason) => new ConfigError(`${file}: ${reason}`), inForce)
  const text = bytes.toString('utf8')
  if (text.trim() === '') throw new ConfigError(`${file}: is empty (a half-written file?); to run with every setting at its default, write a comment line in it`)
  return { value: parseConfig(text, file), bytes }
}

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { formatAddress, parseAddress, type ListenAddress } from './address.js'
import { BuildTracker } from '../tracker/build-tracker.js'
import { ConfigLoadStats, registerConfigMetrics } from './config-metrics.js'
import { defaultVersionInfo, type VersionInfo } from '../plugin/collectors/version.js'
import { ConfigError, configFromObject, readConfig, type RunnerManagerConfig } from './config.js'
import { WebGate } from './auth-gate.js'
import { clientPolicy } from './client-policy.js'
import { ConnectionCap, DEFAULT_MAX_CONNECTIONS, registerConnectionMetrics } from './connection-cap.js'
import { addressInUse, listen, listenerKind, type Listener, type RequestHandler } from './listener.js'
import { OptionInvalidError } from '../plugin/errors.js'
import { describeValue } from '../tracker/describe.js'
import runnerMetrics from '../plugin/plugin.js'
import { renamer, type Naming } from '../plugin/naming.js'
import { registerStandaloneRoutes } from './standalone-routes.js'
import type { FileRead } from './read-text.js'
import { NO_WEB_CONFIG, readWebConfig, type TlsSettings, type WebConfig } from './web-config.js'

export interface MetricsServerOptions {
  /** A GitLab Runner style config.toml, read at start and again by `reload()`. */
  configFile?: string
  /** The config as an object of config.toml's shape, when there is no file. */
  config?: Record<string, unknown>
  /** A listen address that overrides the config's `metrics_server` (the CLI's flag or env). */
  metricsServer?: string
  /** An exporter-toolkit web config file that overrides the config's `web_config_file`. */
  webConfigFile?: string
  /** The tracker your runner manager feeds; by default a new one, at `server.tracker`. */
  tracker?: BuildTracker
  /** Labels of `runner_version_info`. */
  version?: VersionInfo
  /** A pino-compatible logger; by default Fastify's pino at the config's `log_level`. */
  logger?: FastifyBaseLogger
  /** Milliseconds in-flight requests get to finish on close or rebind. Default 10000. */
  closeGraceMs?: number
  /**
   * Connections a listener holds at once; at the cap a new one closes the oldest idle one
   * (or is refused when all are busy). Default 512, half the usual limit of 1024 open files.
   */
  maxConnections?: number
  /** As the plugin's options: scrapes served at once (default 0, no limit), and how long one may take (default 5000 ms). */
  maxScrapesInFlight?: number
  scrapeTimeout?: number
  /** Metric names, overriding the config's `metrics_naming` (the CLI's `--naming`). Default `runner`. */
  naming?: Naming
}

/** Everything a (re)load applies, read and checked, and the bytes of the files it came from, by path. */
interface Loaded { config: RunnerManagerConfig, web: WebConfig, files: ReadonlyMap<string, Buffer> }

export type ReloadResult = { ok: true } | { ok: false, error: string }

export interface MetricsServer {
  readonly app: FastifyInstance
  readonly tracker: BuildTracker
  readonly registry: Registry
  /** The config in force. */
  readonly config: RunnerManagerConfig
  /** Where the metrics server listens, or undefined while it is disabled. */
  address: () => AddressInfo | undefined
  /** Re-reads the config file (or takes `config`) and applies it; on any error the old config stays. */
  reload: (config?: Record<string, unknown>) => Promise<ReloadResult>
  /** Stops accepting, lets in-flight requests finish, releases everything. */
  close: () => Promise<void>
}

/** Scrapes every few seconds must not log two lines each. */
function quietRequests (): { logController: InstanceType<typeof Fastify.LogController> } | { disableRequestLogging: true } {
  // Fastify 5.12 moved this switch into LogController and deprecated the flag; earlier 5.x know only the flag.
  /* c8 ignore next */
  if (Fastify.LogController === undefined) return { disableRequestLogging: true }
  return { logController: new Fastify.LogController({ disableRequestLogging: true }) }
}

function sameAddress (a: ListenAddress | undefined, b: ListenAddress | undefined): boolean {
  return a?.host === b?.host && a?.port === b?.port
}

/** Whether `address` is where `listener` is: as configured, or as bound when port 0 picked one. */
function isCurrent (address: ListenAddress | undefined, configured: ListenAddress | undefined, listener: Listener): boolean {
  return sameAddress(address, configured) || sameAddress(address, { host: configured?.host, port: listener.address().port })
}

function overrideAddress (address: string | undefined): ListenAddress | undefined {
  if (address === undefined) return undefined
  try {
    return parseAddress(address)
  } catch (error) {
    throw new ConfigError(`metrics server address override: ${(error as Error).message}`)
  }
}

/**
 * The runner manager's metrics server: the plugin on its own Fastify instance, listening where
 * the config says, rebinding on reload with no gap (the new listener is up before the old one closes).
 */
export async function startMetricsServer (options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const { configFile, closeGraceMs = 10_000, maxConnections = DEFAULT_MAX_CONNECTIONS } = options
  if (configFile !== undefined && options.config !== undefined) throw new TypeError('startMetricsServer: give configFile or config, not both')
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw new OptionInvalidError(`startMetricsServer option "maxConnections" must be an integer of at least 1, got ${describeValue(maxConnections)}`)
  const override = overrideAddress(options.metricsServer)
  const tracker = options.tracker ?? new BuildTracker()
  /** The files the config in force was read from: a reload refuses one cut short of these bytes. */
  let inForce: ReadonlyMap<string, Buffer> = new Map()
  /** Reads and checks everything a (re)load applies, before anything is applied. */
  const read = async (raw = options.config): Promise<Loaded> => {
    const files = new Map<string, Buffer>()
    const remember = <T>(file: string, { value, bytes }: FileRead<T>): T => {
      files.set(file, bytes)
      return value
    }
    const config = configFile !== undefined && raw === undefined ? remember(configFile, await readConfig(configFile, inForce.get(configFile))) : configFromObject(raw ?? {})
    const webFile = options.webConfigFile ?? config.webConfigFile
    const web = webFile === undefined ? NO_WEB_CONFIG : remember(webFile, await readWebConfig(webFile, inForce.get(webFile)))
    tracker.checkConfig(config)
    return { config, web, files }
  }
  const initial = await read()
  let config = initial.config
  const gate = new WebGate()

  const version = { ...defaultVersionInfo(), ...options.version }
  let handler: RequestHandler | undefined
  const app = Fastify({
    ...(options.logger === undefined ? { logger: { level: config.logLevel } } : { loggerInstance: options.logger }),
    ...quietRequests(),
    // Fastify gets a server it never listens on; listeners come and go in `apply` below.
    serverFactory: (fastifyHandler) => {
      handler = fastifyHandler
      return createServer()
    }
  })
  const stats = new ConfigLoadStats()
  let closing = false
  // Before the routes: every endpoint, health ones included, gets the headers and the auth.
  app.addHook('onRequest', gate.onRequest)
  // An answer made while a reload changed the web config is judged again by the new one.
  app.addHook('onSend', gate.onSend)
  app.addHook('onClose', async () => { await gate.close() })
  // Names are fixed for the life of the server: a reload that changes metrics_naming is logged, not applied.
  const naming = options.naming ?? config.metricsNaming ?? 'runner'
  await app.register(runnerMetrics, { tracker, version, jobsList: true, maxScrapesInFlight: options.maxScrapesInFlight, scrapeTimeout: options.scrapeTimeout, naming })
  registerConfigMetrics(app.runnerRegistry, stats, renamer(naming))
  const cap = new ConnectionCap(maxConnections, (message) => app.log.warn(message))
  registerConnectionMetrics(app.runnerRegistry, cap, renamer(naming))
  registerStandaloneRoutes(app, version)
  await app.ready()

  let server: Listener | undefined
  let listeningOn: ListenAddress | undefined
  let applied = false
  /**
   * Listeners that stopped accepting and still finish their requests, with their drains. A
   * reload does not wait for them (a shutdown that waits for the reload must not leave the new
   * listener accepting meanwhile); close() does.
   */
  const draining = new Map<Listener, Promise<void>>()

  function retire (listener: Listener): void {
    const drained = listener.close(closeGraceMs)
    draining.set(listener, drained)
    drained.then(() => draining.delete(listener), () => {})
  }

  /** Every open listener, the draining ones too, closes the connections `tls`'s client policy refuses. */
  function admitOnly (tls: TlsSettings | undefined): void {
    server?.admitOnly(tls)
    for (const listener of draining.keys()) listener.admitOnly(tls)
  }

  function announce (listener: Listener | undefined): void {
    if (listener === undefined) {
      app.log.info('metrics server is disabled: metrics_server is not set')
      return
    }
    const bound = listener.address()
    app.log.info(`metrics server listening on ${listener.kind === 'http' ? 'http' : 'https'}://${formatAddress({ host: bound.address, port: bound.port })}`)
  }

  /**
   * Binds the address `previous` was closed on again, after a move in place failed, so the
   * server never ends up listening nowhere because of a reload.
   */
  async function restore (previous: Listener, old: ListenAddress): Promise<void> {
    try {
      server = await listen(old, handler!, previous.tls, cap)
      announce(server)
    /* c8 ignore start */
    } catch (rebind) {
      // Only another process taking the old port within those two binds gets here; no test can time that.
      listeningOn = undefined
      app.log.error(`metrics server is listening nowhere: ${(rebind as Error).message}; the next reload binds again`)
    }
    /* c8 ignore stop */
  }

  /**
   * Binds `address` where our own `previous` listener holds its port: the same port on another
   * host, or another protocol or client policy at the same address. The old listener stops
   * accepting (its requests in flight still finish) and the new one binds at once: the gap is
   * one bind. When that bind fails, the old address is bound again.
   */
  async function replaceInPlace (previous: Listener, old: ListenAddress, address: ListenAddress, tls: TlsSettings | undefined): Promise<Listener> {
    server = undefined
    retire(previous)
    try {
      return await listen(address, handler!, tls, cap)
    } catch (error) {
      await restore(previous, old)
      throw error
    }
  }

  /**
   * Moves the listener to `address` with `tls`, and calls `commit` once the new listener is
   * bound and before it can accept a connection (nothing awaits in between), so auth, TLS
   * policy and headers already apply to its first request, and to the old one's from then on.
   * A new address is bound before the old one closes; new certificates go into the running
   * listener.
   */
  async function moveListener (address: ListenAddress | undefined, tls: TlsSettings | undefined, commit: () => void): Promise<void> {
    // Made now (it parses the client CAs), so that nothing it could throw comes after a change.
    clientPolicy(tls)
    const previous = server
    const first = !applied
    if (previous !== undefined && isCurrent(address, listeningOn, previous) && previous.kind === listenerKind(tls)) {
      if (tls !== undefined) previous.updateTls(tls)
      commit()
      return
    }
    if (address === undefined) {
      commit()
      server = undefined
      listeningOn = undefined
      if (previous !== undefined || first) announce(undefined)
      if (previous !== undefined) retire(previous)
      return
    }
    // Where the previous listener is, read before anything closes it.
    const old = previous === undefined ? undefined : { host: listeningOn?.host, port: previous.address().port }
    let next: Listener
    // Set when the previous listener was closed to make room for the new one.
    let replaced = false
    if (previous !== undefined && isCurrent(address, listeningOn, previous)) {
      next = await replaceInPlace(previous, old!, address, tls)
      replaced = true
    } else {
      try {
        next = await listen(address, handler!, tls, cap)
      } catch (error) {
        // Only our own listener in the way (the same port, another host) is ours to move.
        if (previous === undefined || address.port !== previous.address().port || !addressInUse(error)) throw error
        next = await replaceInPlace(previous, old!, address, tls)
        replaced = true
      }
    }
    try {
      commit()
    } catch (error) {
      // Refused after the bind (the tracker's cap, reached meanwhile): the new listener goes,
      // and the old address is served as before.
      retire(next)
      if (replaced) await restore(previous!, old!)
      throw error
    }
    server = next
    listeningOn = address
    announce(next)
    if (!replaced && previous !== undefined) retire(previous)
  }

  async function apply (next: Loaded): Promise<void> {
    await moveListener(override ?? next.config.metricsServer, next.web.tls, () => {
      // Checked in `read`. The tracker goes first all the same: should the manager have added
      // runners up to the cap since that check, it refuses before anything else changed.
      tracker.configure(next.config)
      gate.use(next.web)
      // Kept-alive connections and answers in progress too: no answer after ok to a client the new policy refuses.
      admitOnly(next.web.tls)
      if (options.logger === undefined) app.log.level = next.config.logLevel
      config = next.config
      applied = true
      stats.success()
    })
    inForce = next.files
    const wanted = options.naming ?? next.config.metricsNaming ?? 'runner'
    if (wanted !== naming) app.log.warn(`metrics_naming = "${wanted}" takes effect at the next start; the metrics keep their "${naming}" names until then`)
  }

  try {
    await apply(initial)
  } catch (error) {
    await app.close()
    throw error
  }

  let reloading: Promise<unknown> = Promise.resolve()
  async function reload (raw?: Record<string, unknown>): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      if (closing) return { ok: false, error: 'the metrics server is closing' }
      try {
        await apply(await read(raw))
        app.log.info('config reloaded')
        return { ok: true }
      } catch (error) {
        stats.failure()
        const message = (error as Error).message
        app.log.error(`config reload failed, the previous config stays in force: ${message}`)
        return { ok: false, error: message }
      }
    }
    // Reloads run one at a time, in the order they were asked for.
    const result = reloading.then(run)
    reloading = result
    return await result
  }

  let closed: Promise<void> | undefined
  async function shutDown (): Promise<void> {
    closing = true
    // A reload under way only binds (drains are not part of it); then every listener drains at once.
    await reloading
    if (server !== undefined) retire(server)
    server = undefined
    await Promise.all(draining.values())
    await app.close()
  }

  return {
    app,
    tracker,
    registry: app.runnerRegistry,
    get config () { return config },
    address: () => server?.address(),
    reload,
    close: async () => { await (closed ??= shutDown()) }
  }
}

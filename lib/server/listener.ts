import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createSecureServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net'
import { formatAddress, type ListenAddress } from './address.js'
import { clientPolicy, type ClientPolicy } from './client-policy.js'
import type { ConnectionCap } from './connection-cap.js'
import type { TlsSettings } from './web-config.js'
import { ListenError } from './errors.js'

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void

/**
 * Limits for slow or stuck clients. Keep-alive outlasts Prometheus' default one-minute
 * scrape interval, so a scraper reuses its connection.
 */
const SERVER_LIMITS = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 75_000,
  maxHeaderSize: 8192,
  handshakeTimeout: 10_000,
  // Node enforces the two timeouts above only when it checks its connections (every 30 s by default).
  connectionsCheckingInterval: 1000
}

export { ListenError }

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not on this machine',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve'
}

/** Whether a listen failed because something holds the address already. */
export function addressInUse (error: unknown): boolean {
  return error instanceof ListenError && (error.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE'
}

/** What the TLS settings change in a secure context: certificates, versions, ciphers. */
function secureContext (tls: TlsSettings): object {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: tls.minVersion, maxVersion: tls.maxVersion, ciphers: tls.ciphers, honorCipherOrder: tls.honorCipherOrder, ecdhCurve: tls.ecdhCurve }
}

/**
 * What can only change with a new server: plain or TLS, and the client certificate policy.
 * Certificates and the rest change in place (`setSecureContext`).
 */
export function listenerKind (tls: TlsSettings | undefined): string {
  return tls === undefined ? 'http' : `https ${tls.clientAuth}`
}

function createHttpServer (handler: RequestHandler, tls: TlsSettings | undefined): Server {
  const limits = { requestTimeout: SERVER_LIMITS.requestTimeout, headersTimeout: SERVER_LIMITS.headersTimeout, maxHeaderSize: SERVER_LIMITS.maxHeaderSize, connectionsCheckingInterval: SERVER_LIMITS.connectionsCheckingInterval }
  if (tls === undefined) return createServer(limits, handler)
  return createSecureServer({
    ...limits,
    ...secureContext(tls),
    handshakeTimeout: SERVER_LIMITS.handshakeTimeout,
    requestCert: tls.clientAuth !== 'NoClientCert',
    rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert'
  }, handler)
}

/**
 * Opens a listener on `address` that hands every request to `handler`, over TLS when `tls` is
 * set, holding at most `cap.max` connections.
 */
export async function listen (address: ListenAddress, handler: RequestHandler, tls: TlsSettings | undefined, cap: ConnectionCap): Promise<Listener> {
  const server = createHttpServer(handler, tls)
  server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeout
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(new ListenError(`cannot listen on ${formatAddress(address)}: ${REASONS[error.code!] ?? error.message}`, { cause: error }))
    }
    server.once('error', failed)
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', failed)
      resolve()
    })
  })
  return new Listener(server, tls, cap)
}

/**
 * A TCP connection's two ends, which its TLS socket shares: how the end of a handshake finds
 * the connection it began on (Node hands over the TLS socket only, not the TCP one under it).
 */
function ends (socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`
}

/** How often a closing listener looks for connections it may end. */
const SWEEP_MS = 50
/**
 * How long a closing listener waits on a connection with no request in progress before ending
 * it: a new one (as Go's http.Server does) and one kept alive after a response. A request
 * already on its way is read within that time and then answered.
 */
const NEW_CONNECTION_GRACE_MS = 2000
const KEPT_ALIVE_GRACE_MS = 250

interface Connection {
  /** The socket requests arrive on: the TCP one, or over TLS the TLS one once its handshake is done. */
  socket: Socket
  /** In its TLS handshake: the client policy judges it when the handshake ends. */
  handshaking: boolean
  /** When the connection was accepted or last finished a response. */
  idleSince: number
  active: number
  served: boolean
  /** The newest unfinished response: while closing, the one that ends the connection. */
  latest: ServerResponse | undefined
}

/**
 * An HTTP listener that can be closed without losing a request already sent to it, that holds
 * a bounded number of connections, and that lets through only the clients the newest web
 * config allows.
 *
 * Closing: Node's own `close()` drops every connection it has not yet parsed a request on, so
 * a scrape sent just before shutdown would be reset; this one tracks connections, lets the
 * last answer on each say Connection: close, and ends each once it is idle. A client that
 * finds its kept-alive connection closed in between retries, as HTTP clients do.
 *
 * The cap: at `cap.max` connections a new one closes the oldest connection with no request in
 * progress, one that never completed a request (a slow or half-open client) before one kept
 * alive after an answer (the one Prometheus reuses); only when every connection is busy is the
 * new one refused. Refusing newcomers alone would let anyone holding idle connections lock
 * Prometheus out.
 */
export class Listener {
  readonly server: Server
  readonly kind: string
  /** Keyed by the socket requests arrive on (a TLS one in its handshake: by its TCP socket), in the order they came. */
  readonly #connections = new Map<Socket, Connection>()
  /** TLS connections in their handshake, by their ends. */
  readonly #handshakes = new Map<string, Socket>()
  readonly #cap: ConnectionCap
  #closing = false
  #tls: TlsSettings | undefined
  #policy: ClientPolicy

  constructor (server: Server, tls: TlsSettings | undefined, cap: ConnectionCap) {
    this.server = server
    this.kind = listenerKind(tls)
    this.#tls = tls
    this.#policy = clientPolicy(tls)
    this.#cap = cap
    // Prepended: the HTTP parser (or the TLS handshake) listens to the same events and may emit a request at once.
    server.prependListener('connection', (socket: Socket) => this.#accept(socket, tls !== undefined))
    if (tls !== undefined) server.prependListener('secureConnection', (socket: TLSSocket) => this.#secured(socket))
    // Accepting can fail later too (EMFILE); unheard, the error would be thrown into the host.
    server.on('error', (error) => cap.acceptFailed(error))
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const connection = this.#connections.get(request.socket)!
      connection.active++
      const previous = connection.latest
      connection.latest = response
      if (this.#closing) {
        // This one now ends the connection; a pipelined one before it need not.
        if (previous !== undefined && !previous.headersSent) previous.shouldKeepAlive = true
        response.shouldKeepAlive = false
      }
      response.once('close', () => {
        connection.active--
        connection.served = true
        connection.idleSince = performance.now()
        if (connection.latest === response) connection.latest = undefined
      })
    })
  }

  address (): AddressInfo {
    return this.server.address() as AddressInfo
  }

  /** The TLS settings the listener was opened or updated with; undefined: plain HTTP. */
  get tls (): TlsSettings | undefined {
    return this.#tls
  }

  /** New certificates (or versions, ciphers) for new connections, with no restart. */
  updateTls (tls: TlsSettings): void {
    (this.server as unknown as { setSecureContext: (options: object) => void }).setSecureContext(secureContext(tls))
    this.#tls = tls
  }

  /**
   * Judges every open connection by the client policy of `tls` (the web config now in force;
   * undefined: no TLS) and closes at once, answers in progress included, those it refuses.
   * Handshakes still going on are judged by it when they end.
   */
  admitOnly (tls: TlsSettings | undefined): void {
    const policy = clientPolicy(tls)
    const same = policy.key === this.#policy.key
    this.#policy = policy
    // Every open connection was let on by a policy with this key.
    if (same) return
    for (const [socket, connection] of this.#connections) {
      if (!connection.handshaking && !this.#policy.allows(socket)) this.#drop(socket)
    }
  }

  /** Stops accepting, lets requests in flight finish, and drops connections still open after `graceMs`. */
  async close (graceMs: number): Promise<void> {
    this.#closing = true
    // net.Server's close only stops accepting; http.Server's would also drop unparsed connections.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(this.server, () => resolve()))
    const sweep = setInterval(() => this.#endIdle(), SWEEP_MS)
    const force = setTimeout(() => this.server.closeAllConnections(), graceMs)
    this.#endIdle()
    await closed
    clearInterval(sweep)
    clearTimeout(force)
    // http.Server's own close stops its connection-timeout timer; the listener is closed already.
    this.server.close(() => {})
  }

  #accept (socket: Socket, secure: boolean): void {
    if (this.#connections.size >= this.#cap.max) {
      const victim = this.#victim()
      if (victim === undefined) {
        // Every connection is busy: a request in progress on each.
        socket.destroy()
        this.#cap.refuse()
        return
      }
      this.#drop(victim)
      this.#cap.evict()
    }
    this.#connections.set(socket, { socket, handshaking: secure, idleSince: performance.now(), active: 0, served: false, latest: undefined })
    const key = secure ? ends(socket) : undefined
    if (key !== undefined) this.#handshakes.set(key, socket)
    socket.once('close', () => {
      this.#connections.delete(socket)
      if (key !== undefined) this.#handshakes.delete(key)
    })
  }

  /** A handshake ended: from now on requests arrive on `socket`, if the client policy lets it on. */
  #secured (socket: TLSSocket): void {
    const key = ends(socket)
    const tcp = this.#handshakes.get(key) as Socket
    this.#handshakes.delete(key)
    // Found in practice (a connection dropped during its handshake has its TCP socket destroyed,
    // which ends the handshake without this event); checked all the same: a throw here would reach the host.
    const connection = this.#connections.get(tcp)
    if (connection === undefined || !this.#policy.allows(socket)) {
      socket.destroy()
      return
    }
    this.#connections.delete(tcp)
    connection.socket = socket
    connection.handshaking = false
    this.#connections.set(socket, connection)
    socket.once('close', () => this.#connections.delete(socket))
  }

  /**
   * The connection a new one replaces at the cap: the oldest that never completed a request and
   * has none in progress, else the one kept alive idle the longest; none when all are busy.
   * Node (libuv 1.46) accepts one connection a turn of the event loop (measured: 50 waiting
   * take 50 turns) and reads a new socket from the next turn on, so a new connection is closed
   * for others only after `cap.max - 1` newer ones came, in as many turns: a scrape's request,
   * sent with the connection, is read long before.
   */
  #victim (): Socket | undefined {
    let keptAlive: Connection | undefined
    for (const connection of this.#connections.values()) {
      if (connection.active > 0) continue
      if (!connection.served) return connection.socket
      if (keptAlive === undefined || connection.idleSince < keptAlive.idleSince) keptAlive = connection
    }
    return keptAlive?.socket
  }

  /** Closes a connection now; from now on it no longer counts. */
  #drop (socket: Socket): void {
    this.#connections.delete(socket)
    socket.destroy()
  }

  #endIdle (): void {
    const now = performance.now()
    for (const [socket, connection] of this.#connections) {
      const grace = connection.served ? KEPT_ALIVE_GRACE_MS : NEW_CONNECTION_GRACE_MS
      if (connection.active === 0 && now - connection.idleSince >= grace) socket.destroy()
    }
  }
}

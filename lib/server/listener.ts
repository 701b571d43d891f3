import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createSecureServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net'
import { formatAddress, type ListenAddress } from './address.js'
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

/** The SAN values of a certificate's subjectaltname ("DNS:a, IP Address:1.2.3.4, ..."). */
function sans (subjectaltname: string | undefined): string[] {
  return (subjectaltname ?? '').split(', ').map((entry) => entry.slice(entry.indexOf(':') + 1))
}

/** Whether a client that finished the handshake may go on, under exporter-toolkit's policies. */
function clientAllowed (socket: TLSSocket, tls: TlsSettings): boolean {
  const certificate = socket.getPeerCertificate()
  const presented = certificate !== null && Object.keys(certificate).length > 0
  switch (tls.clientAuth) {
    case 'RequireAnyClientCert':
      if (!presented) return false
      break
    case 'VerifyClientCertIfGiven':
      if (presented && !socket.authorized) return false
      break
  }
  return tls.clientAllowedSans.length === 0 || sans(certificate.subjectaltname).some((san) => tls.clientAllowedSans.includes(san))
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

/** Opens a listener on `address` that hands every request to `handler`, over TLS when `tls` is set. */
export async function listen (address: ListenAddress, handler: RequestHandler, tls?: TlsSettings): Promise<Listener> {
  const server = createHttpServer(handler, tls)
  server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeout
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new ListenError(`cannot listen on ${formatAddress(address)}: ${REASONS[error.code!] ?? error.message}`, { cause: error }))
    })
    server.listen({ host: address.host, port: address.port }, resolve)
  })
  return new Listener(server, tls)
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
  /** When the connection was accepted or last finished a response. */
  idleSince: number
  active: number
  served: boolean
  /** The newest unfinished response: while closing, the one that ends the connection. */
  latest: ServerResponse | undefined
}

/**
 * An HTTP listener that can be closed without losing a request already sent to it. Node's own
 * `close()` drops every connection it has not yet parsed a request on, so a scrape sent just
 * before shutdown would be reset; this one tracks connections, lets the last answer on each
 * say Connection: close, and ends each once it is idle. A client that finds its kept-alive
 * connection closed in between retries, as HTTP clients do.
 */
export class Listener {
  readonly server: Server
  readonly kind: string
  readonly #connections = new Map<Socket, Connection>()
  #closing = false
  #tls: TlsSettings | undefined

  constructor (server: Server, tls: TlsSettings | undefined) {
    this.server = server
    this.kind = listenerKind(tls)
    this.#tls = tls
    const track = (socket: Socket): void => {
      this.#connections.set(socket, { idleSince: performance.now(), active: 0, served: false, latest: undefined })
      socket.once('close', () => this.#connections.delete(socket))
    }
    // Requests arrive on the TLS socket, so over TLS that is the connection tracked; one still
    // in its handshake is bounded by the handshake timeout. Prepended: the HTTP parser listens
    // to the same event and may emit a request at once.
    if (tls === undefined) {
      server.prependListener('connection', track)
    } else {
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        if (clientAllowed(socket, this.#tls!)) track(socket)
        else socket.destroy()
      })
    }
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

  /** The TLS settings in force; undefined: plain HTTP. */
  get tls (): TlsSettings | undefined {
    return this.#tls
  }

  /** New certificates (or versions, ciphers, allowed SANs) for new connections, with no restart. */
  updateTls (tls: TlsSettings): void {
    (this.server as unknown as { setSecureContext: (options: object) => void }).setSecureContext(secureContext(tls))
    this.#tls = tls
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

  #endIdle (): void {
    const now = performance.now()
    for (const [socket, connection] of this.#connections) {
      const grace = connection.served ? KEPT_ALIVE_GRACE_MS : NEW_CONNECTION_GRACE_MS
      if (connection.active === 0 && now - connection.idleSince >= grace) socket.destroy()
    }
  }
}

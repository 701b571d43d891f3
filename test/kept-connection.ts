import { once } from 'node:events'
import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'

/** What a TLS client presents: PEM texts. */
export interface TlsClient { ca: string, cert?: string, key?: string }

/**
 * One HTTP/1.1 connection, kept open, with one request at a time on it: a test knows which
 * connection each answer came on, and whether the server closed it.
 */
export class KeptConnection {
  readonly socket: Socket
  #received = ''
  #waiting: (() => void) | undefined

  private constructor (socket: Socket) {
    this.socket = socket
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { this.#received += chunk; this.#waiting?.() })
    socket.on('end', () => this.#waiting?.())
    socket.on('close', () => this.#waiting?.())
    // A reset is a close too; its error is not the test's.
    socket.on('error', () => {})
  }

  /** Connects to `port` on 127.0.0.1, over TLS with `tls`; rejects when the server refuses. */
  static async open (port: number, tls?: TlsClient): Promise<KeptConnection> {
    const socket = tls === undefined ? connectTcp(port, '127.0.0.1') : connectTls({ port, host: '127.0.0.1', ...tls })
    await once(socket, tls === undefined ? 'connect' : 'secureConnect')
    const connection = new KeptConnection(socket)
    if (tls !== undefined) {
      // TLS 1.3 reports a refused client certificate after the handshake: one round trip shows it.
      if (await connection.request('/-/healthy') === 'closed') throw new Error('the server closed the connection')
    }
    return connection
  }

  /** Sends a GET on this connection; resolves with the status, or 'closed' if the connection ends before a whole answer. */
  async request (path: string, headers: Record<string, string> = {}): Promise<number | 'closed'> {
    if (this.socket.destroyed) return 'closed'
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`)
    for (;;) {
      const answer = this.#answer()
      if (answer !== undefined) return answer
      if (this.socket.destroyed || this.socket.readableEnded) return 'closed'
      await new Promise<void>((resolve) => { this.#waiting = resolve })
    }
  }

  /** The first whole answer received, taken off the buffer. */
  #answer (): number | undefined {
    const end = this.#received.indexOf('\r\n\r\n')
    if (end === -1) return undefined
    const head = this.#received.slice(0, end)
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
    if (this.#received.length < end + 4 + length) return undefined
    this.#received = this.#received.slice(end + 4 + length)
    return Number(head.split(' ', 2)[1])
  }

  get closed (): boolean {
    return this.socket.destroyed || this.socket.readableEnded
  }

  destroy (): void {
    this.socket.destroy()
  }
}

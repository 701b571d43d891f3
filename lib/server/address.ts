import { isIPv6 } from 'node:net'
import { quote } from '../tracker/describe.js'

/** The port Prometheus' port allocations give to runner metrics. */
export const DEFAULT_PORT = 9252

export interface ListenAddress {
  /** undefined: every interface. */
  host: string | undefined
  port: number
}

const PORT = /^\d{1,5}$/
const HOST = /^[A-Za-z0-9._-]+$/

function port (text: string, address: string): number {
  const value = Number(text)
  if (!PORT.test(text) || value > 65535) throw new TypeError(`address ${quote(address)}: port ${quote(text)} is not a port number (0-65535)`)
  return value
}

function host (text: string, address: string): string {
  if (!HOST.test(text)) throw new TypeError(`address ${quote(address)}: ${quote(text)} is not a host name or IPv4 address (an IPv6 address goes in brackets: [::1]:${DEFAULT_PORT})`)
  return text
}

/**
 * Parses a listen address: `host:port`, `:port` (every interface), `[ipv6]:port`, or a bare
 * host or IPv6 address (port 9252). Throws a TypeError that names the address and the problem.
 */
export function parseAddress (address: string): ListenAddress {
  if (address.length > 300) throw new TypeError('address is too long to be a listen address')
  if (address.trim() === '') throw new TypeError('address is empty')
  if (address.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(address)
    if (match === null || !isIPv6(match[1]!)) throw new TypeError(`address ${quote(address)}: expected [ipv6]:port, like [::1]:${DEFAULT_PORT}`)
    return { host: match[1], port: match[2] === undefined ? DEFAULT_PORT : port(match[2], address) }
  }
  if (isIPv6(address)) return { host: address, port: DEFAULT_PORT }
  const colon = address.lastIndexOf(':')
  if (colon === -1) return { host: host(address, address), port: DEFAULT_PORT }
  const hostPart = address.slice(0, colon)
  return { host: hostPart === '' ? undefined : host(hostPart, address), port: port(address.slice(colon + 1), address) }
}

/** An address as a URL authority, for log lines and links. */
export function formatAddress ({ host, port }: { host: string | undefined, port: number }): string {
  const shown = host ?? '0.0.0.0'
  return isIPv6(shown) ? `[${shown}]:${port}` : `${shown}:${port}`
}

import { X509Certificate } from 'node:crypto'
import { BlockList, isIP, type Socket } from 'node:net'
import { TLSSocket, type DetailedPeerCertificate } from 'node:tls'
import type { ClientAuthType, TlsSettings } from './web-config.js'

/**
 * Who may talk to the server under a web config, as exporter-toolkit's `tls_server_config`
 * decides it (`web/tls_config.go`). A listener asks at each handshake; after a reload, every
 * listener asks again for each connection it has open, so the new policy holds for every
 * answer sent after the reload.
 */
export interface ClientPolicy {
  /** Whether the client on `socket` (done with its handshake, if any) may go on. */
  allows: (socket: Socket) => boolean
  /**
   * Equal for policies that allow the same clients: a reload that keeps it (most do) need not
   * judge open connections again, which costs a certificate chain read for each.
   */
  key: string
}

/** Without TLS in the web config nothing is asked of the connection: TLS ones stay too. */
const ANYONE: ClientPolicy = { allows: () => true, key: 'no TLS' }

const REQUIRES_CERTIFICATE = new Set<ClientAuthType>(['RequireAnyClientCert', 'RequireAndVerifyClientCert'])
const VERIFIES = new Set<ClientAuthType>(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'])

/** One SAN as exporter-toolkit compares them: DNS names, email addresses, IP addresses and URIs. */
interface San { kind: 'DNS' | 'email' | 'IP Address' | 'URI', value: string }
const SAN_KINDS = new Set(['DNS', 'email', 'IP Address', 'URI'])

/**
 * Node's own test of a quoted value (`lib/tls.js`): exactly a JSON string literal. Node quotes
 * a SAN value holding a comma, a quote, a backslash or a control character, so that a value
 * cannot pass for the separator of the next entry.
 */
// eslint-disable-next-line no-control-regex
const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/

/** The entries of Node's `subjectaltname` ("DNS:a, IP Address:1.2.3.4, DNS:\"b\\u002c c\""), unquoted. */
function splitAltNames (altNames: string): string[] {
  // As Node's splitEscapedAltNames, which checkServerIdentity uses.
  const entries: string[] = []
  let entry = ''
  let offset = 0
  while (offset < altNames.length) {
    const separator = altNames.indexOf(', ', offset)
    const quote = altNames.indexOf('"', offset)
    const quoted = quote === -1 || (separator !== -1 && separator < quote) ? null : JSON_STRING.exec(altNames.slice(quote))
    if (quoted !== null) {
      entry += altNames.slice(offset, quote) + (JSON.parse(quoted[0]) as string)
      offset = quote + quoted[0].length
    } else if (separator !== -1) {
      entries.push(entry + altNames.slice(offset, separator))
      entry = ''
      offset = separator + 2
    } else {
      // Also a quote that is no JSON string, which Node never writes: taken as it stands.
      entry += altNames.slice(offset)
      offset = altNames.length
    }
  }
  entries.push(entry)
  return entries
}

/** The SANs of a certificate's `subjectaltname` that exporter-toolkit compares; none when it has none. */
export function certificateSans (subjectaltname: string | undefined): San[] {
  if (subjectaltname === undefined) return []
  const sans: San[] = []
  for (const entry of splitAltNames(subjectaltname)) {
    const colon = entry.indexOf(':')
    const kind = entry.slice(0, colon)
    if (colon !== -1 && SAN_KINDS.has(kind)) sans.push({ kind: kind as San['kind'], value: entry.slice(colon + 1) })
  }
  return sans
}

/**
 * `client_allowed_sans` as a test: a SAN matches an allowed value it equals exactly, as Go's
 * `slices.Contains` does (no wildcards, no case folding); an IP SAN also matches an allowed
 * value equal to it as an address, whatever the spelling (Node writes `2001:DB8:0:0:0:0:0:1`
 * where Go writes `2001:db8::1`), an IPv4-mapped IPv6 address being its IPv4 address, as in Go.
 */
export function sanMatcher (allowed: readonly string[]): (subjectaltname: string | undefined) => boolean {
  const names = new Set(allowed)
  const addresses = new BlockList()
  for (const value of allowed) {
    const family = isIP(value)
    if (family !== 0) addresses.addAddress(value, family === 6 ? 'ipv6' : 'ipv4')
  }
  return (subjectaltname) => certificateSans(subjectaltname).some(({ kind, value }) =>
    names.has(value) || (kind === 'IP Address' && addresses.check(value, isIP(value) === 6 ? 'ipv6' : 'ipv4')))
}

/**
 * The SHA-256 fingerprints of the certificates in a PEM bundle, as far as Node's secure context
 * loads it: up to the first block that is no certificate (Node takes the bundle, and stops
 * there). Past that point nothing is trusted by the handshake, so nothing is here either.
 */
function fingerprints (bundle: string): Set<string> {
  const found = new Set<string>()
  for (const [block] of bundle.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)) {
    try {
      found.add(new X509Certificate(block).fingerprint256)
    } catch {
      break
    }
  }
  return found
}

/**
 * Whether the chain the handshake verified ends at one of `anchors`. Node walks the peer's
 * chain to its root (a self-signed certificate, its own issuer) from the CA certificates of the
 * context the handshake used, which after a reload may be the old ones: the root found must be
 * among the new ones too. Anything else (no root reached, a loop) is refused: the client
 * connects again and a real handshake decides.
 */
function anchoredIn (certificate: DetailedPeerCertificate, anchors: Set<string>): boolean {
  const seen = new Set([certificate])
  let last = certificate
  while (last.issuerCertificate !== undefined && !seen.has(last.issuerCertificate)) {
    last = last.issuerCertificate
    seen.add(last)
  }
  return last.issuerCertificate === last && anchors.has(last.fingerprint256)
}

function tlsPolicy (tls: TlsSettings): ClientPolicy {
  const required = REQUIRES_CERTIFICATE.has(tls.clientAuth)
  // The web config requires client_ca_file for the verifying types.
  const anchors = VERIFIES.has(tls.clientAuth) ? fingerprints(tls.ca!) : undefined
  const sansMatch = tls.clientAllowedSans.length === 0 ? undefined : sanMatcher(tls.clientAllowedSans)
  return {
    key: JSON.stringify([tls.clientAuth, [...anchors ?? []].sort(), [...tls.clientAllowedSans].sort()]),
    allows: (socket) => {
      // A plain HTTP connection where TLS is now required.
      if (!(socket instanceof TLSSocket)) return false
      // Empty when the client sent none; null once the socket is destroyed. The chain only when it is checked.
      const certificate = socket.getPeerCertificate(anchors !== undefined) as DetailedPeerCertificate | null
      if (certificate === null || Object.keys(certificate).length === 0) return !required && sansMatch === undefined
      if (anchors !== undefined && !(socket.authorized && anchoredIn(certificate, anchors))) return false
      return sansMatch === undefined || sansMatch(certificate.subjectaltname)
    }
  }
}

const policies = new WeakMap<TlsSettings, ClientPolicy>()

/** The client policy of a web config's TLS settings (none: no TLS), made once per loaded config. */
export function clientPolicy (tls: TlsSettings | undefined): ClientPolicy {
  if (tls === undefined) return ANYONE
  let policy = policies.get(tls)
  if (policy === undefined) {
    policy = tlsPolicy(tls)
    policies.set(tls, policy)
  }
  return policy
}

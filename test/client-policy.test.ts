// Who gets past the TLS handshake: exporter-toolkit's client_allowed_sans, compared as Go does,
// addresses as addresses. Real certificates from openssl, real TLS connections.
import { request } from 'node:https'
import t from 'tap'
import { ConnectionCap } from '../lib/server/connection-cap.js'
import { listen } from '../lib/server/listener.js'
import type { TlsSettings } from '../lib/server/web-config.js'
import { clientCert, makeCerts } from './certs.js'

const certs = makeCerts()
t.teardown(certs.cleanup)

function settings (clientAllowedSans: string[]): TlsSettings {
  return {
    cert: certs.read(certs.serverCert),
    key: certs.read(certs.serverKey),
    ca: certs.read(certs.ca),
    clientAuth: 'RequireAndVerifyClientCert',
    clientAllowedSans,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: undefined,
    honorCipherOrder: true,
    ecdhCurve: undefined
  }
}

async function outcome (port: number, client: { cert: string, key: string }): Promise<number | 'refused'> {
  return await new Promise((resolve) => {
    request({ host: '127.0.0.1', port, path: '/', agent: false, ca: certs.read(certs.ca), cert: certs.read(client.cert), key: certs.read(client.key) }, (response) => {
      response.resume()
      resolve(response.statusCode!)
    }).on('error', () => resolve('refused')).end()
  })
}

const clients = {
  ipv6: clientCert(certs, 'ipv6', ['IP.1 = 2001:db8::1']),
  mapped: clientCert(certs, 'mapped', ['IP.1 = ::ffff:10.1.2.3']),
  ipv4: clientCert(certs, 'ipv4', ['IP.1 = 10.0.0.1']),
  // Node quotes a SAN holding a comma: DNS:"evil\u002c DNS:prometheus.scraper".
  quoted: clientCert(certs, 'quoted', ['DNS.1 = evil, DNS:prometheus.scraper']),
  // A directory name is no SAN exporter-toolkit compares; Node writes it DirName:CN=prometheus.scraper.
  dirName: clientCert(certs, 'dirname', ['dirName.1 = dir']),
  named: clientCert(certs, 'named', ['DNS.1 = prometheus.scraper', 'email.1 = ops@example.com', 'URI.1 = spiffe://example.com/prometheus']),
  bare: clientCert(certs, 'bare')
}

const cases: Array<[string, string[], keyof typeof clients, boolean]> = [
  ['an IPv6 SAN, allowed as Go writes it', ['2001:db8::1'], 'ipv6', true],
  ['an IPv6 SAN, allowed in capitals with zeros', ['2001:0DB8:0:0::1'], 'ipv6', true],
  ['an IPv6 SAN, another address allowed', ['2001:db8::2'], 'ipv6', false],
  ['an IPv4-mapped IPv6 SAN, allowed as IPv4 (as Go prints it)', ['10.1.2.3'], 'mapped', true],
  ['an IPv4-mapped IPv6 SAN, allowed as written', ['::ffff:10.1.2.3'], 'mapped', true],
  ['an IPv4 SAN, allowed IPv4-mapped', ['::ffff:10.0.0.1'], 'ipv4', true],
  ['an IPv4 SAN, allowed as written', ['10.0.0.1'], 'ipv4', true],
  ['an IPv4 SAN, another address allowed', ['10.0.0.2'], 'ipv4', false],
  ['a SAN with a comma in it, allowed: the part after the comma', ['prometheus.scraper'], 'quoted', false],
  ['a SAN with a comma in it, allowed: the whole value', ['evil, DNS:prometheus.scraper'], 'quoted', true],
  ['a directory name, allowed as Node writes it', ['CN=prometheus.scraper'], 'dirName', false],
  ['a directory name, allowed as its CN', ['prometheus.scraper'], 'dirName', false],
  ['a DNS SAN, allowed exactly', ['prometheus.scraper'], 'named', true],
  ['a DNS SAN, allowed in other case (Go compares exactly)', ['Prometheus.Scraper'], 'named', false],
  ['a DNS SAN, allowed by a wildcard (none in exporter-toolkit)', ['*.scraper'], 'named', false],
  ['an email SAN', ['ops@example.com'], 'named', true],
  ['a URI SAN', ['spiffe://example.com/prometheus'], 'named', true],
  ['no SAN at all, the empty SAN allowed', [''], 'bare', false],
  ['no SAN at all', ['prometheus.scraper'], 'bare', false]
]

for (const [what, allowed, client, expected] of cases) {
  t.test(`${what}: ${expected ? 'allowed' : 'refused'}`, async (t) => {
    const listener = await listen({ host: '127.0.0.1', port: 0 }, (request, response) => { response.end('ok') }, settings(allowed), new ConnectionCap(16, () => {}))
    t.teardown(() => listener.close(0))
    t.equal(await outcome(listener.address().port, clients[client]), expected ? 200 : 'refused', `client_allowed_sans: ${JSON.stringify(allowed)}`)
  })
}

t.test('subjectaltname is split as Node\'s own checkServerIdentity splits it', async (t) => {
  const { certificateSans } = await import('../lib/server/client-policy.js')
  t.same(certificateSans(undefined), [], 'a certificate with no SAN has no SAN values')
  t.same(certificateSans('DNS:a, IP Address:10.0.0.1, email:x@y, URI:spiffe://z'), [
    { kind: 'DNS', value: 'a' }, { kind: 'IP Address', value: '10.0.0.1' }, { kind: 'email', value: 'x@y' }, { kind: 'URI', value: 'spiffe://z' }
  ])
  t.same(certificateSans('DNS:"a\\u002c DNS:b", DNS:"q\\"uote", DNS:c'), [{ kind: 'DNS', value: 'a, DNS:b' }, { kind: 'DNS', value: 'q"uote' }, { kind: 'DNS', value: 'c' }], 'quoted values are one value each')
  t.same(certificateSans('othername:<unsupported>, DirName:CN=a, Registered ID:1.2.3, DNS:d'), [{ kind: 'DNS', value: 'd' }], 'only the kinds exporter-toolkit compares')
  // Node never writes these; they are taken as they stand, never thrown.
  t.same(certificateSans('DNS:"unterminated, DNS:e'), [{ kind: 'DNS', value: '"unterminated' }, { kind: 'DNS', value: 'e' }])
  t.same(certificateSans('DNS:"unterminated'), [{ kind: 'DNS', value: '"unterminated' }])
  t.same(certificateSans('no colon, DNS:f'), [{ kind: 'DNS', value: 'f' }])
})

t.test('a client CA bundle ending in a block that is no certificate (Node loads the ones before it) starts and reloads as before; its good CAs still anchor', async (t) => {
  const { startMetricsServer } = await import('../lib/server/index.js')
  const { join } = await import('node:path')
  const { writeFile } = await import('node:fs/promises')
  const { KeptConnection } = await import('./kept-connection.js')
  // Not a certificate, between certificate lines after the real CA: Node's secure context loads the CA and stops there.
  const bundle = `${certs.read(certs.ca)}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`
  const dir = t.testdir({ 'ca.crt': bundle })
  const web = join(dir, 'web.yml')
  const config = (sans: string): string => `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${join(dir, 'ca.crt')}\n  client_allowed_sans: [${sans}]\n`
  await writeFile(web, config('prometheus.scraper'))
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', web_config_file: web } })
  t.teardown(() => server.close())
  const client = await KeptConnection.open(server.address()!.port, { ca: certs.read(certs.ca), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) })
  t.teardown(() => client.destroy())
  t.equal(await client.request('/-/healthy'), 200)
  await writeFile(web, config('prometheus.scraper, other.scraper'))
  t.same(await server.reload(), { ok: true }, 'a reload judging open connections reads the same bundle')
  t.equal(await client.request('/-/healthy'), 200, 'the client, still allowed and anchored in the bundle\'s real CA, goes on')
})

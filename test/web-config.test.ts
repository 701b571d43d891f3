import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import t from 'tap'
import { loadWebConfig, parseWebConfig } from '../lib/server/web-config.js'
import { makeCerts } from './certs.js'
import { findPromtool, runPromtool } from './promtool.js'

const certs = makeCerts()
t.teardown(certs.cleanup)
const HASH = bcrypt.hashSync('s3cret', 4)
const promtool = findPromtool()

const FULL = `
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
  curve_preferences: [CurveP256, X25519]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: default-src 'self'
    X-XSS-Protection: 1; mode=block
basic_auth_users:
  prometheus: ${HASH}
`

t.test('a complete web config: TLS files read relative to it, users, headers', async (t) => {
  const file = join(certs.dir, 'web.yml')
  writeFileSync(file, FULL)
  const config = await loadWebConfig(file)
  t.equal(config.tls!.cert, certs.read(certs.serverCert))
  t.equal(config.tls!.key, certs.read(certs.serverKey))
  t.equal(config.tls!.ca, certs.read(certs.ca))
  t.match(config.tls, {
    clientAuth: 'RequireAndVerifyClientCert',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384',
    honorCipherOrder: false,
    ecdhCurve: 'P-256:X25519',
    clientAllowedSans: []
  })
  t.same([...config.users], [['prometheus', HASH]])
  t.same(config.headers, {
    'Content-Security-Policy': "default-src 'self'",
    'X-Frame-Options': 'deny',
    'X-Content-Type-Options': 'nosniff',
    'X-XSS-Protection': '1; mode=block',
    'Strict-Transport-Security': 'max-age=31536000'
  })
})

t.test('promtool check web-config accepts the files this server accepts', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const file = join(certs.dir, 'web-promtool.yml')
  writeFileSync(file, FULL)
  const { status, output } = runPromtool(['check', 'web-config', file])
  t.equal(status, 0, output)
  await t.resolves(loadWebConfig(file))
})

t.test('defaults: TLS 1.2 to 1.3, no client certificates, server cipher order', async (t) => {
  const config = await parseWebConfig(`tls_server_config:\n  cert: |\n${indent(certs.read(certs.serverCert))}\n  key: |\n${indent(certs.read(certs.serverKey))}\n`, 'inline.yml')
  t.match(config.tls, { clientAuth: 'NoClientCert', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: undefined, ecdhCurve: undefined, honorCipherOrder: true, ca: undefined })
  const empty = await parseWebConfig('', 'empty.yml')
  t.same(empty, { tls: undefined, users: new Map(), headers: {} })
})

function indent (text: string): string {
  return text.trimEnd().split('\n').map((line) => `    ${line}`).join('\n')
}

t.test('mistakes are errors that name the file and key and never echo a secret', async (t) => {
  const tls = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
  const cases: Array<[string, RegExp]> = [
    ['tls_server_confg: {}', /^w\.yml: tls_server_confg is not a known key; known: tls_server_config, http_server_config, basic_auth_users$/],
    ['rate_limit: { burst: 1 }', /rate_limit is not a known key/],
    [`${tls}  key_fil: x`, /tls_server_config\.key_fil is not a known key/],
    ['tls_server_config:\n  key_file: server.key', /tls_server_config\.cert_file \(or cert\) is required/],
    ['tls_server_config:\n  cert_file: server.crt', /tls_server_config\.key_file \(or key\) is required/],
    ['tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key', /tls_server_config\.cert_file: missing\.crt: no such file$/],
    [`${tls}  cert: inline`, /tls_server_config\.cert and tls_server_config\.cert_file are both set/],
    ['tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt', /tls_server_config\.the certificate, key or client CA cannot be used: /],
    [`${tls}  client_auth_type: Sometimes`, /client_auth_type "Sometimes" is not supported; supported: NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert/],
    [`${tls}  client_ca_file: ca.crt`, /client_ca_file is set but client_auth_type is NoClientCert/],
    [`${tls}  client_auth_type: RequireAndVerifyClientCert`, /client_auth_type RequireAndVerifyClientCert needs client_ca_file/],
    [`${tls}  client_auth_type: RequestClientCert\n  client_allowed_sans: [a]`, /client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert/],
    [`${tls}  min_version: TLS9`, /min_version "TLS9" is not supported; supported: TLS10, TLS11, TLS12, TLS13/],
    [`${tls}  min_version: TLS13\n  max_version: TLS12`, /min_version is above max_version/],
    [`${tls}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]`, /cipher_suites entry "TLS_RSA_WITH_RC4_128_SHA" is not supported/],
    [`${tls}  cipher_suites: TLS_AES_128_GCM_SHA256`, /cipher_suites must be a list of strings/],
    [`${tls}  curve_preferences: [P256]`, /curve_preferences entry "P256" is not supported; supported: CurveP256, CurveP384, CurveP521, X25519/],
    [`${tls}  prefer_server_cipher_suites: sometimes`, /prefer_server_cipher_suites must be true or false/],
    [`${tls}  min_version: 12`, /tls_server_config\.min_version must be a string/],
    ['tls_server_config: [1]', /tls_server_config must be a mapping/],
    ['http_server_config:\n  http3: true', /http_server_config\.http3 is not a known key/],
    ['http_server_config:\n  http2: maybe', /http_server_config\.http2 must be true or false/],
    ['http_server_config:\n  headers:\n    X-Powered-By: me', /http_server_config\.headers\.X-Powered-By is not a known key; known: Content-Security-Policy, X-Frame-Options/],
    ['http_server_config:\n  headers:\n    X-Frame-Options: allow', /headers\.X-Frame-Options has an invalid value; allowed: deny, sameorigin/],
    ['http_server_config:\n  headers:\n    X-Content-Type-Options: sniff', /headers\.X-Content-Type-Options has an invalid value; allowed: nosniff/],
    ['basic_auth_users:\n  admin: hunter2-plaintext-password', /^w\.yml: basic_auth_users\.admin is not a bcrypt hash \(make one with: htpasswd -nBC 10 "" \| tr -d ':\\n'\)$/],
    ['basic_auth_users:\n  admin: 12', /basic_auth_users\.admin is not a bcrypt hash/],
    ['basic_auth_users: [a]', /basic_auth_users must be a mapping/],
    ['- just a list', /the web config must be a mapping/],
    ['a: [1\nb: 2', /^w\.yml: line \d+: invalid YAML: /],
    ['a: 1\na: 2', /^w\.yml: line 2: invalid YAML: Map keys must be unique/],
    ['a: *nope', /^w\.yml: invalid YAML: Unresolved alias/],
    ['"tls\\nserver": 1', /^w\.yml: "tls\\nserver" is not a known key/],
    [`a: &a [x, x, x, x, x, x, x, x, x, x]\n${'bcdefghijk'.split('').map((key, index) => `${key}: &${key} [${Array(10).fill(`*${'abcdefghijk'[index]}`).join(', ')}]`).join('\n')}`, /^w\.yml: invalid YAML: Excessive alias count indicates a resource exhaustion attack$/]
  ]
  for (const [text, message] of cases) {
    const error = await parseWebConfig(text, 'w.yml', certs.dir).then(() => undefined, (caught: Error) => caught)
    t.ok(error, text)
    t.equal(error?.name, 'WebConfigError')
    t.match(error?.message, message, text)
    t.notMatch(error?.message, /hunter2|BEGIN|\n/, 'one line, no secret')
  }
  await t.rejects(loadWebConfig(join(certs.dir, 'nope.yml')), { name: 'WebConfigError', message: /nope\.yml: no such file$/ })
})

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
})

function indent (text: string): string {
  return text.trimEnd().split('\n').map((line) => `    ${line}`).join('\n')
}

t.test('mistakes are errors that name the file and key and never echo a secret', async (t) => {
  const tls = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
  const cases: Array<[string, RegExp]> = [
    ['tls_server_confg: {}', /^w\.yml: tls_server_confg is not a known key; known: tls_server_config, http_server_config, basic_auth_users, rate_limit$/],
    [`${tls}  key_fil: x`, /tls_server_config\.key_fil is not a known key/],
    ['tls_server_config:\n  key_file: server.key', /tls_server_config\.cert_file \(or cert\) is required/],
    ['tls_server_config:\n  cert_file: server.crt', /tls_server_config\.key_file \(or key\) is required/],
    ['tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key', /tls_server_config\.cert_file: no such file$/],
    [`${tls}  cert: inline`, /tls_server_config\.cert and tls_server_config\.cert_file are both set/],
    ['tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt', /tls_server_config\.the certificate, key or client CA cannot be used: /],
    [`${tls}  client_auth_type: Sometimes`, /client_auth_type is not supported; supported: NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert/],
    [`${tls}  client_ca_file: ca.crt`, /client_ca_file is set but client_auth_type is NoClientCert/],
    [`${tls}  client_auth_type: RequireAndVerifyClientCert`, /client_auth_type RequireAndVerifyClientCert needs client_ca_file/],
    [`${tls}  client_auth_type: RequestClientCert\n  client_allowed_sans: [a]`, /client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert/],
    [`${tls}  min_version: TLS9`, /min_version is not supported; supported: TLS10, TLS11, TLS12, TLS13/],
    [`${tls}  min_version: TLS13\n  max_version: TLS12`, /min_version is above max_version/],
    [`${tls}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]`, /cipher_suites\[0\] is not supported/],
    [`${tls}  cipher_suites: TLS_AES_128_GCM_SHA256`, /cipher_suites must be a list of strings/],
    [`${tls}  curve_preferences: [P256]`, /curve_preferences\[0\] is not supported; supported: CurveP256, CurveP384, CurveP521, X25519/],
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
    ['a: 1\na: 2', /^w\.yml: a is set twice \(lines 1 and 2\)$/],
    ['a: *nope', /^w\.yml: invalid YAML: Unresolved alias/],
    ['"tls\\nserver": 1', /^w\.yml: the key at line 1, column 1 is not a known key/],
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

t.test('issue 12 item 8: what would break answers or open the door is refused at load', async (t) => {
  const refuse = async (text: string): Promise<string> => {
    const error = await parseWebConfig(text, 'w.yml', certs.dir).then(() => undefined, (caught: Error) => caught)
    t.equal(error?.name, 'WebConfigError', text)
    return error?.message ?? ''
  }
  // Header values Node cannot send: every answer would be a 500 with nothing logged.
  for (const [value, what] of [['"default-src \'self\'\\r\\nSet-Cookie: a=b"', 'CR/LF'], ['"max-age=1 \\u2028"', 'non-Latin-1'], ['"1; mode=block\\u0000"', 'NUL']]) {
    const message = await refuse(`http_server_config:\n  headers:\n    Content-Security-Policy: ${value}\n`)
    t.match(message, /^w\.yml: http_server_config\.headers\.Content-Security-Policy: a header value may hold only printable Latin-1 characters and tabs, no line breaks$/, what)
  }
  // An empty file, as a half-written one is: today it turns auth and TLS off without a word.
  for (const text of ['', '\n\n', '# all commented out\n# basic_auth_users:\n', '---\n']) {
    t.equal(await refuse(text), 'w.yml: the web config file is empty; to serve without TLS or basic auth, remove web_config_file (or --web-config-file), or write {} in it', JSON.stringify(text))
  }
  t.same(await parseWebConfig('{}\n', 'w.yml'), { tls: undefined, users: new Map(), headers: {}, rateLimit: undefined }, 'an explicit empty mapping is a choice, and allowed')
  // bcrypt hashes that cannot work, or would take minutes per check.
  const salt = 'PXgb9IPYs8yGZ8Ez46gYDOs2HVOjDfNjztpUlCYZgZB3lo/0..uku'
  for (const [hash, problem] of [
    [`$2x$10$${salt}`, /is not a bcrypt hash/],
    [`$2c$10$${salt}`, /is not a bcrypt hash/],
    [`$2b$03$${salt}`, /has bcrypt cost 3; allowed: 4 to 15/],
    [`$2y$16$${salt}`, /has bcrypt cost 16; allowed: 4 to 15/],
    [`$2a$31$${salt}`, /has bcrypt cost 31; allowed: 4 to 15/]
  ] as const) {
    const message = await refuse(`basic_auth_users:\n  prometheus: '${hash}'\n`)
    t.match(message, /^w\.yml: basic_auth_users\.prometheus /, hash)
    t.match(message, problem, hash)
    t.notOk(message.includes(salt), 'the hash is never echoed')
  }
  for (const cost of ['04', '15']) t.resolves(parseWebConfig(`basic_auth_users:\n  p: '$2y$${cost}$${salt}'\n`, 'w.yml'), `cost ${cost} loads`)
  // Go reads the original $2$ form, but bcryptjs compares only 60-character hashes: a $2$ user
  // (59 characters) could never log in. Refused, saying what to make instead.
  const original = bcrypt.hashSync('right', `$2$04$${salt.slice(0, 22)}`)
  t.notOk(bcrypt.compareSync('right', original), 'bcryptjs refuses even the right password')
  t.match(await refuse(`basic_auth_users:\n  p: '${original}'\n`), /^w\.yml: basic_auth_users\.p is of bcrypt's original \$2\$ form, which cannot be checked here \(make one with: htpasswd -nBC 10 "" \| tr -d ':\\n'\)$/)
})

t.test('issue 12 item 8: no error message echoes a value: key paths and line/column only', async (t) => {
  const hash = bcrypt.hashSync('pw', 4)
  const privateLine = certs.read(certs.serverKey).split('\n')[1]!
  const cases: Array<[string, RegExp]> = [
    // A hash where a user name belongs (key and value swapped).
    [`basic_auth_users:\n  '${hash}': prometheus\n`, /^w\.yml: basic_auth_users: the user at line 2, column 3 is not a bcrypt hash \(make one with/],
    // A pasted key line where a key belongs.
    [`${privateLine}: 1\n`, /^w\.yml: the key at line 1, column 1 is not a known key; known: tls_server_config, http_server_config, basic_auth_users, rate_limit$/],
    [`http_server_config:\n  headers:\n    ${privateLine}: x\n`, /^w\.yml: http_server_config\.headers: the key at line 3, column 5 is not a known key; known: Content-Security-Policy/],
    // A private key pasted where a file name belongs.
    [`tls_server_config:\n  cert_file: server.crt\n  key_file: |\n    ${privateLine}\n`, /^w\.yml: tls_server_config\.key_file: no such file$/],
    // Enumerations name the key and the allowed values, not what was written.
    [`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: ${privateLine}\n`, /^w\.yml: tls_server_config\.client_auth_type is not supported; supported: NoClientCert, /],
    [`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256, ${privateLine}]\n`, /^w\.yml: tls_server_config\.cipher_suites\[1\] is not supported; supported: TLS_RSA_WITH_AES_128_CBC_SHA, /],
    [`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [${privateLine}]\n`, /^w\.yml: tls_server_config\.curve_preferences\[0\] is not supported; supported: CurveP256, /],
    // No position to give when the mapping came through an alias or the key is a collection; still no echo.
    [`basic_auth_users: &u {"${privateLine}": ${hash}}\nrate_limit: *u\n`, /^w\.yml: rate_limit: the key is not a known key; known: interval, burst$/],
    [`? [${privateLine}]\n: 1\n`, /^w\.yml: the key at line 1, column 3 is a list or a mapping; keys are names$/],
    [`a: *${privateLine.slice(0, 20).replace(/[^A-Za-z0-9]/g, 'x')}\n`, /^w\.yml: invalid YAML: Unresolved alias/]
  ]
  for (const [text, message] of cases) {
    const error = await parseWebConfig(text, 'w.yml', certs.dir).then(() => undefined, (caught: Error) => caught)
    t.match(error?.message, message, text)
    for (const secret of [hash, privateLine, privateLine.slice(0, 20).replace(/[^A-Za-z0-9]/g, 'x')]) t.notOk(error?.message.includes(secret), `no value echoed: ${text.split('\n')[0]}`)
  }
})

t.test('rate_limit: exporter-toolkit\'s interval (a Go duration) and burst', async (t) => {
  const limit = async (text: string): Promise<unknown> => (await parseWebConfig(`rate_limit:\n${text}`, 'w.yml')).rateLimit
  t.same(await limit('  interval: 1s\n  burst: 5\n'), { intervalMs: 1000, burst: 5 })
  t.same(await limit('  interval: 1m30s\n  burst: 1\n'), { intervalMs: 90_000, burst: 1 })
  t.same(await limit('  interval: 1.5h\n  burst: 1\n'), { intervalMs: 5_400_000, burst: 1 })
  t.same(await limit('  interval: 250ms\n  burst: 2\n'), { intervalMs: 250, burst: 2 })
  t.same(await limit('  interval: 500us\n  burst: 2\n'), { intervalMs: 0.5, burst: 2 })
  t.same(await limit('  interval: 0\n  burst: 0\n'), undefined, 'interval 0 turns it off, as in exporter-toolkit')
  t.same(await limit('  interval: 0s\n'), undefined)
  t.same(await limit('  burst: 3\n'), undefined, 'no interval: off')
  t.same(await limit('  {}\n'), undefined)
  const cases: Array<[string, RegExp]> = [
    ['  interval: fast\n  burst: 1\n', /^w\.yml: rate_limit\.interval is not a duration; write it as Go does, such as 1s, 500ms or 1m30s$/],
    ['  interval: 10\n  burst: 1\n', /rate_limit\.interval is not a duration/],
    ['  interval: -1s\n  burst: 1\n', /rate_limit\.interval is not a duration/],
    ['  interval: 1d\n  burst: 1\n', /rate_limit\.interval is not a duration/],
    ['  interval: 1s\n', /^w\.yml: rate_limit\.burst must be 1 or more when rate_limit\.interval is set \(0 would refuse every request\)$/],
    ['  interval: 1s\n  burst: 0\n', /rate_limit\.burst must be 1 or more/],
    ['  interval: 1s\n  burst: 1.5\n', /^w\.yml: rate_limit\.burst must be a whole number$/],
    ['  interval: 1s\n  burst: many\n', /rate_limit\.burst must be a whole number/],
    ['  interval: 1s\n  burst: -2\n', /rate_limit\.burst must be a whole number/],
    ['  interval: 1s\n  rate: 2\n', /^w\.yml: rate_limit\.rate is not a known key; known: interval, burst$/]
  ]
  for (const [text, message] of cases) await t.rejects(parseWebConfig(`rate_limit:\n${text}`, 'w.yml'), { name: 'WebConfigError', message }, text)
  await t.rejects(parseWebConfig('rate_limit: 5\n', 'w.yml'), { message: /rate_limit must be a mapping/ })
})

/** The error a web config is refused with, or undefined when it loads. */
async function refusal (text: string): Promise<Error | undefined> {
  return await parseWebConfig(text, 'w.yml', certs.dir).then(() => undefined, (caught: Error) => caught)
}

t.test('issue 23: values that can only be mistakes are refused at load, naming the key and never the value', async (t) => {
  const tls = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
  const sans = `${tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n`
  const hash = bcrypt.hashSync('pw', 4)
  const cases: Array<[string, RegExp]> = [
    // A template that rendered empty: exporter-toolkit never matches an empty SAN; this server's check admitted any certificate.
    [`${sans}  client_allowed_sans: [""]\n`, /^w\.yml: tls_server_config\.client_allowed_sans\[0\] is empty; /],
    [`${sans}  client_allowed_sans: [prometheus.scraper, "  "]\n`, /^w\.yml: tls_server_config\.client_allowed_sans\[1\] is empty; /],
    // exporter-toolkit refuses every client certificate with an empty list; this server allowed any.
    [`${sans}  client_allowed_sans: []\n`, /^w\.yml: tls_server_config\.client_allowed_sans is an empty list: /],
    [`${tls}  cipher_suites: [TLS_AES_128_GCM_SHA256, ""]\n`, /^w\.yml: tls_server_config\.cipher_suites\[1\] is empty; /],
    [`${tls}  curve_preferences: [" "]\n`, /^w\.yml: tls_server_config\.curve_preferences\[0\] is empty; /],
    // An empty string turned the setting off, or to its default, without a word.
    [`${tls}  client_auth_type: ""\n`, /^w\.yml: tls_server_config\.client_auth_type is empty; /],
    [`${tls}  min_version: ''\n`, /^w\.yml: tls_server_config\.min_version is empty; /],
    [`${tls}  client_ca_file: ""\n`, /^w\.yml: tls_server_config\.client_ca_file is empty; /],
    ['tls_server_config:\n  cert_file: ""\n  key_file: server.key\n', /^w\.yml: tls_server_config\.cert_file is empty; /],
    ['http_server_config:\n  headers:\n    Content-Security-Policy: ""\n', /^w\.yml: http_server_config\.headers\.Content-Security-Policy is empty; /],
    // User names: empty (or null, which YAML turns into one), blank, or with a colon, which Basic auth cannot carry.
    [`basic_auth_users:\n  "": ${hash}\n`, /^w\.yml: basic_auth_users: the user at line 2, column 3 has an empty name$/],
    [`basic_auth_users:\n  ~: ${hash}\n`, /^w\.yml: basic_auth_users: the user at line 2, column 3 has an empty name$/],
    [`basic_auth_users:\n  " ": ${hash}\n`, /^w\.yml: basic_auth_users: the user at line 2, column 3 has an empty name$/],
    [`basic_auth_users:\n  "prometheus:hunter2": ${hash}\n`, /^w\.yml: basic_auth_users: the user at line 2, column 3 has a ":" in its name, which Basic auth cannot send \(the name ends at the first ":"\)$/],
    // Keys set twice, at every level and however YAML lets it happen: one of the two was silently lost.
    [`basic_auth_users: {}\nrate_limit: {}\nbasic_auth_users:\n  admin: ${hash}\n`, /^w\.yml: basic_auth_users is set twice \(lines 1 and 3\)$/],
    [`basic_auth_users:\n  prometheus: ${hash}\n  admin: ${hash}\n  prometheus: ${hash}\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 4\)$/],
    [`${tls}  key_file: ca.key\n`, /^w\.yml: tls_server_config\.key_file is set twice \(lines 3 and 4\)$/],
    ['http_server_config: {headers: {X-Frame-Options: deny, X-Frame-Options: sameorigin}}\n', /^w\.yml: http_server_config\.headers\.X-Frame-Options is set twice \(lines 1 and 1\)$/],
    // Through an alias used as a key, through YAML's merge key, and the same name written as another type.
    [`tls_server_config:\n  cert_file: &user prometheus\n  key_file: server.key\nbasic_auth_users:\n  *user : ${hash}\n  prometheus: ${hash}\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 5 and 6\)$/],
    [`basic_auth_users:\n  <<: {prometheus: ${hash}}\n  prometheus: ${hash}\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 3\)$/],
    [`basic_auth_users:\n  <<: [{prometheus: ${hash}}, {prometheus: ${hash}}]\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 2\)$/],
    [`basic_auth_users:\n  <<: {<<: {prometheus: ${hash}}}\n  prometheus: ${hash}\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 3\)$/],
    [`basic_auth_users:\n  <<: {prometheus: ${hash}, prometheus: ${hash}}\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 2\)$/],
    [`basic_auth_users:\n  ~: ${hash}\n  : ${hash}\n`, /^w\.yml: basic_auth_users: the key at line 3, column 1 is set twice \(lines 2 and 3\)$/],
    [`basic_auth_users:\n  <<: [&users {prometheus: ${hash}}, *users]\n`, /^w\.yml: basic_auth_users\.prometheus is set twice \(lines 2 and 2\)$/],
    ['http_server_config:\n  headers:\n    ? {a: 1}\n    : x\n', /^w\.yml: http_server_config\.headers: the key at line 3, column 7 is a list or a mapping; keys are names$/],
    [`basic_auth_users:\n  1: ${hash}\n  "1": ${hash}\n`, /^w\.yml: basic_auth_users\.1 is set twice \(lines 2 and 3\)$/],
    // A key that is not a plain name may be a secret: its position, not its text.
    [`basic_auth_users:\n  'pass word': ${hash}\n  'pass word': ${hash}\n`, /^w\.yml: basic_auth_users: the key at line 3, column 3 is set twice \(lines 2 and 3\)$/]
  ]
  for (const [text, message] of cases) {
    const error = await refusal(text)
    t.equal(error?.name, 'WebConfigError', text)
    t.match(error?.message, message, text)
    for (const secret of [hash, 'hunter2', 'pass word']) t.notOk(error?.message.includes(secret), `no value echoed: ${text}`)
  }
  // YAML's merge key, as Go's yaml reads it for exporter-toolkit, when it sets nothing twice.
  t.same([...(await parseWebConfig(`basic_auth_users:\n  <<: {prometheus: ${hash}}\n  admin: ${hash}\n`, 'w.yml')).users.keys()], ['prometheus', 'admin'])
  t.same((await parseWebConfig(`${sans}  client_allowed_sans: [prometheus.scraper]\n`, 'w.yml', certs.dir)).tls?.clientAllowedSans, ['prometheus.scraper'])
})

/** FULL_KEYS with every key path it holds; each line's key is the last part of its path. */
const EVERY_KEY = `tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans:
    - prometheus.scraper
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  prefer_server_cipher_suites: true
  curve_preferences:
    - CurveP256
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
rate_limit:
  interval: 1s
  burst: 5
`

/** Each key of EVERY_KEY with its dotted path, and the text with that key's value (its line's, and its children's) left out. */
function withoutEachValue (text: string, spelling: string): Array<[string, string]> {
  const lines = text.trimEnd().split('\n')
  const depth = (line: string): number => line.length - line.trimStart().length
  const result: Array<[string, string]> = []
  const path: string[] = []
  lines.forEach((line, index) => {
    if (line.trimStart().startsWith('- ')) return
    const key = line.trim().split(':')[0]!
    path.length = depth(line) / 2
    path.push(key)
    let end = index + 1
    while (end < lines.length && depth(lines[end]!) > depth(line)) end++
    result.push([path.join('.'), [...lines.slice(0, index), `${line.slice(0, line.indexOf(':') + 1)}${spelling}`, ...lines.slice(end)].join('\n') + '\n'])
  })
  return result
}

t.test('issue 23: a key present with no value is an error naming the key, at every level; {} stays the explicit "nothing"', async (t) => {
  t.resolves(parseWebConfig(EVERY_KEY, 'w.yml', certs.dir), 'the complete file loads')
  const variants = ['', ' ~', ' null', ' Null', ' NULL'].flatMap((spelling) => withoutEachValue(EVERY_KEY, spelling))
  t.equal(variants.length, 5 * 24, 'every key, in every spelling of null')
  for (const [path, text] of variants) {
    const error = await refusal(text)
    t.match(error?.message, new RegExp(`^w\\.yml: ${path.replace(/\./g, '\\.')} has no value \\(a half-written file\\?\\); `), `${path}: ${JSON.stringify(text.split('\n').find((line) => line.trim().startsWith(path.split('.').pop()! + ':')))}`)
  }
  // What an editor or a deploy tool leaves halfway: exporter-toolkit (Go's yaml) reads these as "none", and so did this server.
  for (const [text, path] of [
    ['basic_auth_users:\n', 'basic_auth_users'],
    ['tls_server_config:\n', 'tls_server_config'],
    [`basic_auth_users:\n  prometheus: ${HASH}\nrate_limit:\n`, 'rate_limit'],
    ['tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cert:\n', 'tls_server_config.cert'],
    ['tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca:\n', 'tls_server_config.client_ca'],
    ['tls_server_config:\n  cert_file: server.crt\n  key:\n  key_file: server.key\n', 'tls_server_config.key']
  ]) t.match((await refusal(text))?.message, new RegExp(`^w\\.yml: ${path!.replace(/\./g, '\\.')} has no value`), text)
  // List items: a YAML list item with nothing after its dash is null too.
  const sans = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans:\n    - prometheus.scraper\n    -\n'
  t.match((await refusal(sans))?.message, /^w\.yml: tls_server_config\.client_allowed_sans\[1\] has no value/)
  // Through an alias, the same.
  t.match((await refusal('basic_auth_users: {}\nrate_limit: &none\nhttp_server_config: *none\n'))?.message, /^w\.yml: http_server_config has no value/)
  for (const text of ['{}\n', 'basic_auth_users: {}\n', 'http_server_config: {headers: {}}\n', 'rate_limit: {}\n', 'http_server_config: {}\nbasic_auth_users: {}\nrate_limit: {}\n']) {
    t.same(await parseWebConfig(text, 'w.yml'), { tls: undefined, users: new Map(), headers: {}, rateLimit: undefined }, `${JSON.stringify(text)}: an explicit empty mapping is a choice`)
  }
})

import { X509Certificate } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { get as httpGet, type IncomingHttpHeaders } from 'node:http'
import { get as httpsGet } from 'node:https'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import t from 'tap'
import { startMetricsServer } from '../lib/server/index.js'
import { makeCerts } from './certs.js'
import { parseSamples } from './helpers.js'
import { runServer } from './spawn-server.js'

const certs = makeCerts()
t.teardown(certs.cleanup)
const PASSWORD = 'correct horse battery staple'
const HASH = bcrypt.hashSync(PASSWORD, 4)
const AUTH = `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}`

interface Answer { status: number, headers: IncomingHttpHeaders, body: string, peerCertificate?: string }

async function fetchTls (url: string, options: { headers?: Record<string, string>, cert?: string, key?: string } = {}): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const request = httpsGet(url, {
      agent: false,
      ca: certs.read(certs.ca),
      headers: options.headers,
      cert: options.cert === undefined ? undefined : certs.read(options.cert),
      key: options.key === undefined ? undefined : certs.read(options.key)
    }, (response) => {
      let body = ''
      const peer = (response.socket as import('node:tls').TLSSocket).getPeerX509Certificate()?.fingerprint256
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body, peerCertificate: peer }))
    })
    request.on('error', reject)
  })
}

async function fetchPlain (url: string): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }))
    }).on('error', reject)
  })
}

const webConfig = (extra = ''): string => `
tls_server_config:
  cert_file: ${certs.serverCert}
  key_file: ${certs.serverKey}
${extra}
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: ${HASH}
`

t.test('the real server over TLS with basic auth: 401 without, 200 with, headers everywhere, nothing secret leaks', async (t) => {
  const dir = t.testdir({
    'config.toml': 'metrics_server = "127.0.0.1:0"\nweb_config_file = "web.yml"\n[[runners]]\nname = "r"\ntoken = "glrt-SECRET"\n',
    'web.yml': webConfig()
  })
  const server = runServer(['--config', join(dir, 'config.toml')])
  t.teardown(() => { server.child.kill('SIGTERM') })
  await server.waitFor(/listening on https:/)
  const base = server.url()
  t.match(base, /^https:\/\/127\.0\.0\.1:\d+$/)

  for (const path of ['/metrics', '/', '/-/healthy', '/-/ready', '/debug/jobs/list', '/nowhere']) {
    const denied = await fetchTls(`${base}${path}`)
    t.equal(denied.status, 401, `${path} needs credentials`)
    t.equal(denied.headers['www-authenticate'], 'Basic')
    t.equal(denied.headers['x-frame-options'], 'deny')
  }
  const wrong = await fetchTls(`${base}/metrics`, { headers: { authorization: `Basic ${Buffer.from('prometheus:guess').toString('base64')}` } })
  t.equal(wrong.status, 401)
  const unknown = await fetchTls(`${base}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } })
  t.equal(unknown.status, 401)
  const allowed = await fetchTls(`${base}/metrics`, { headers: { authorization: AUTH } })
  t.equal(allowed.status, 200)
  t.equal(allowed.headers['x-content-type-options'], 'nosniff')
  t.equal(parseSamples(allowed.body).get('runner_config_loaded_total'), 1)
  await t.rejects(fetchPlain(base.replace('https', 'http') + '/metrics'), 'plain HTTP gets no answer from the TLS port')

  server.child.kill('SIGTERM')
  t.same(await server.exited, { code: 0, signal: null })
  const everything = [allowed.body, server.stdout(), server.stderr()].join('\n')
  for (const secret of [PASSWORD, HASH, 'glrt-SECRET', certs.read(certs.serverKey).split('\n')[1]!]) t.notOk(everything.includes(secret), 'no secret in any answer or log line')
})

t.test('SIGHUP rotates the certificate without a restart; a broken web config keeps the old one serving', async (t) => {
  const rotated = makeCerts()
  t.teardown(rotated.cleanup)
  const dir = t.testdir({ 'web.yml': webConfig(), 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const server = runServer(['--config', join(dir, 'config.toml'), '--web-config-file', join(dir, 'web.yml')])
  t.teardown(() => { server.child.kill('SIGTERM') })
  await server.waitFor(/listening on https:/)
  const base = server.url()
  const before = await fetchTls(`${base}/-/healthy`, { headers: { authorization: AUTH } })
  t.equal(before.peerCertificate, new X509Certificate(certs.read(certs.serverCert)).fingerprint256)

  // The rotated server certificate comes from another CA: trust both for the check.
  await writeFile(join(dir, 'web.yml'), webConfig().replace(certs.serverCert, rotated.serverCert).replace(certs.serverKey, rotated.serverKey))
  server.child.kill('SIGHUP')
  await server.waitFor(/config reloaded/)
  const after = await new Promise<string | undefined>((resolve, reject) => {
    httpsGet(`${base}/-/healthy`, { agent: false, ca: [certs.read(certs.ca), rotated.read(rotated.ca)], headers: { authorization: AUTH } }, (response) => {
      resolve((response.socket as import('node:tls').TLSSocket).getPeerX509Certificate()?.fingerprint256)
      response.resume()
    }).on('error', reject)
  })
  t.equal(after, new X509Certificate(rotated.read(rotated.serverCert)).fingerprint256, 'new connections get the new certificate')
  t.equal(server.url(), base, 'same listener, same address')

  await writeFile(join(dir, 'web.yml.tmp'), 'basic_auth_users:\n  prometheus: not-a-hash\n')
  await rename(join(dir, 'web.yml.tmp'), join(dir, 'web.yml'))
  server.child.kill('SIGHUP')
  await server.waitFor(/config reload failed, the previous config stays in force: .*web\.yml: basic_auth_users\.prometheus is not a bcrypt hash/)
  const still = await new Promise<number>((resolve, reject) => {
    httpsGet(`${base}/metrics`, { agent: false, ca: [certs.read(certs.ca), rotated.read(rotated.ca)] }, (response) => { resolve(response.statusCode!); response.resume() }).on('error', reject)
  })
  t.equal(still, 401, 'the old web config, auth included, is still in force')
  t.notMatch(server.stdout(), /not-a-hash/, 'the bad value is not echoed')
})

t.test('bad web config at start: one line, exit 1, no secret', async (t) => {
  const dir = t.testdir({
    'config.toml': 'metrics_server = "127.0.0.1:0"\nweb_config_file = "web.yml"\n',
    'web.yml': 'basic_auth_users:\n  prometheus: plaintext-password\nextra: 1\n'
  })
  const server = runServer(['--config', join(dir, 'config.toml')])
  t.equal((await server.exited).code, 1)
  t.match(server.stderr(), /^fastify-runner-metrics: \S+web\.yml: extra is not a known key; known: tls_server_config, http_server_config, basic_auth_users, rate_limit\n$/)
  const missing = runServer(['--config', join(dir, 'config.toml'), '--web-config-file', join(dir, 'none.yml')])
  t.equal((await missing.exited).code, 1)
  t.match(missing.stderr(), /none\.yml: no such file\n$/)
})

t.test('embedded: plain to TLS and back at the same address on reload', async (t) => {
  const dir = t.testdir({ 'web.yml': webConfig(), 'plain.yml': '{}\n' })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  t.teardown(() => server.close())
  const port = server.address()!.port
  t.equal((await fetchPlain(`http://127.0.0.1:${port}/-/healthy`)).status, 200)
  t.same(await server.reload({ metrics_server: `127.0.0.1:${port}`, web_config_file: join(dir, 'web.yml') }), { ok: true })
  t.equal((await fetchTls(`https://127.0.0.1:${port}/-/healthy`, { headers: { authorization: AUTH } })).status, 200)
  t.same(await server.reload({ metrics_server: `127.0.0.1:${port}`, web_config_file: join(dir, 'plain.yml') }), { ok: true })
  t.equal((await fetchPlain(`http://127.0.0.1:${port}/-/healthy`)).status, 200, 'no auth, no TLS any more')
})

t.test('embedded: client certificate policies', async (t) => {
  const client = { cert: certs.clientCert, key: certs.clientKey }
  const stranger = { cert: certs.strangerCert, key: certs.strangerKey }
  const bare = { cert: certs.bareCert, key: certs.bareKey }
  const cases: Array<[string, Array<[string, typeof client | undefined, boolean]>]> = [
    ['client_auth_type: RequestClientCert', [['none', undefined, true], ['stranger', stranger, true], ['client', client, true]]],
    ['client_auth_type: RequireAnyClientCert', [['none', undefined, false], ['stranger', stranger, true], ['client', client, true]]],
    [`client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${certs.ca}`, [['none', undefined, true], ['stranger', stranger, false], ['client', client, true]]],
    [`client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.ca}`, [['none', undefined, false], ['stranger', stranger, false], ['client', client, true]]],
    [`client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.ca}\n  client_allowed_sans: [prometheus.scraper]`, [['client', client, true]]],
    [`client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.ca}\n  client_allowed_sans: [other.scraper]`, [['client', client, false]]],
    ['client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [prometheus.scraper]', [['stranger', stranger, true], ['bare', bare, false]]]
  ]
  for (const [policy, attempts] of cases) {
    const dir = t.testdir({ 'web.yml': `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n  ${policy}\n` })
    const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: join(dir, 'web.yml') })
    const url = `https://127.0.0.1:${server.address()!.port}/-/healthy`
    for (const [who, credentials, allowed] of attempts) {
      const outcome = await fetchTls(url, credentials ?? {}).then((answer) => answer.status, () => 'refused')
      t.equal(outcome, allowed ? 200 : 'refused', `${policy.split('\n')[0]}${policy.includes('sans') ? ' with SANs' : ''}: ${who}`)
    }
    await server.close()
  }
})

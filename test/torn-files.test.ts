import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import pino from 'pino'
import t from 'tap'
import { loadConfig, startMetricsServer, type MetricsServer } from '../lib/server/index.js'
import { makeCerts } from './certs.js'
import { runServer } from './spawn-server.js'

// Issue 23: a config file caught halfway through writing must never load as a weaker config.
t.setTimeout(180_000)

const certs = makeCerts()
t.teardown(certs.cleanup)
const PASSWORD = 'correct horse battery staple'
const HASH = bcrypt.hashSync(PASSWORD, 4)
const AUTH = `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}`

/** A real web config: TLS with client certificates and SANs, basic auth, headers, a rate limit. */
const WEB_CONFIG = `# exporter-toolkit web config
tls_server_config:
  cert_file: ${certs.serverCert}
  key_file: ${certs.serverKey}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ${certs.ca}
  client_allowed_sans:
    - prometheus.scraper
  min_version: TLS12
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: ${HASH}
  grafana: ${HASH}
rate_limit:
  interval: 1ms
  burst: 100000
`

/** A real config.toml: web_config_file is the last of the top-level keys, and runners follow. */
const CONFIG = `# GitLab Runner config
concurrent = 4
check_interval = 3
log_level = "info"
metrics_server = "127.0.0.1:0"
web_config_file = "web.yml"

[[runners]]
  name = "docker-1"
  url = "https://gitlab.example.com"
  token = "glrt-SECRET"
  executor = "docker"
  limit = 2

[[runners]]
  name = "shell"
  executor = "shell"
`

type Outcome = number | string

/** The status of a GET over TLS, or the error code when the connection is refused. */
async function get (url: string, options: { auth?: boolean, clientCert?: boolean } = {}): Promise<Outcome> {
  const { auth = true, clientCert = true } = options
  return await new Promise((resolve) => {
    request(url, {
      agent: false,
      ca: certs.read(certs.ca),
      headers: auth ? { authorization: AUTH } : {},
      ...(clientCert ? { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) } : {})
    }, (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode!))
    }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message)).end()
  })
}

const urlOf = (server: MetricsServer): string => `https://127.0.0.1:${server.address()!.port}/metrics`

/** What the server in force answers: with everything, without credentials, without a client certificate. */
async function policy (url: string): Promise<Outcome[]> {
  return [await get(url), await get(url, { auth: false }), typeof await get(url, { clientCert: false }) === 'string' ? 'no certificate: refused' : 'no certificate: answered']
}
const IN_FORCE = [200, 401, 'no certificate: refused']

t.test('every byte prefix of the web config and of config.toml in force is refused on reload; the old config keeps serving', async (t) => {
  const dir = t.testdir({ 'config.toml': CONFIG, 'web.yml': WEB_CONFIG })
  const server = await startMetricsServer({ configFile: join(dir, 'config.toml'), logger: pino({ level: 'silent' }) })
  t.teardown(() => server.close())
  const url = urlOf(server)
  t.same(await policy(url), IN_FORCE, 'TLS with client certificates and basic auth in force')
  const started = process.hrtime.bigint()
  let reloads = 0
  for (const name of ['web.yml', 'config.toml']) {
    const file = join(dir, name)
    const whole = readFileSync(file)
    const wrong: string[] = []
    for (let length = 0; length < whole.length; length++) {
      writeFileSync(file, whole.subarray(0, length))
      const result = await server.reload()
      reloads++
      const expected = length === 0
        ? new RegExp(`^${file}: (the web config file )?is empty`)
        : `${file}: holds only the first ${length} of the ${whole.length} bytes of the file in force (a half-written file?); if you meant to cut its end, save it with any other change too`
      if (result.ok || (typeof expected === 'string' ? result.error !== expected : !expected.test(result.error))) wrong.push(`${length} bytes: ${JSON.stringify(result)}`)
      // The gate in force, without the cost of a TLS handshake per prefix: still asks for credentials.
      const answer = await server.app.inject('/metrics')
      if (answer.statusCode !== 401 || answer.headers['x-frame-options'] !== 'deny') wrong.push(`${length} bytes: then answered ${answer.statusCode}`)
    }
    t.same(wrong.slice(0, 10), [], `${name}: all ${whole.length} prefixes refused, auth still asked (first 10 wrong shown of ${wrong.length})`)
    t.same(await policy(url), IN_FORCE, `${name}: TLS, client certificates and auth as before, on the same listener`)
    writeFileSync(file, whole)
    t.same(await server.reload(), { ok: true }, `${name}: the whole file again reloads`)
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  t.comment(`${reloads} reloads in ${seconds.toFixed(2)} s`)
  t.equal(server.config.webConfigFile, join(dir, 'web.yml'))
  t.same(server.config.runners, [{ name: 'docker-1', limit: 2 }, { name: 'shell' }])
  t.same(await policy(url), IN_FORCE)
})

t.test('a reload that cuts the end off on purpose loads once anything else changed too', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\nweb_config_file = "web.yml"\n', 'web.yml': `basic_auth_users:\n  prometheus: ${HASH}\n  grafana: ${HASH}\n` })
  const server = await startMetricsServer({ configFile: join(dir, 'config.toml'), logger: pino({ level: 'silent' }) })
  t.teardown(() => server.close())
  writeFileSync(join(dir, 'web.yml'), `basic_auth_users:\n  prometheus: ${HASH}\n`)
  t.match(await server.reload(), { ok: false, error: /web\.yml: holds only the first \d+ of the \d+ bytes of the file in force/ }, 'grafana removed from the end: taken for a torn file')
  writeFileSync(join(dir, 'web.yml'), `# grafana removed\nbasic_auth_users:\n  prometheus: ${HASH}\n`)
  t.same(await server.reload(), { ok: true }, 'with a comment added, it loads')
  writeFileSync(join(dir, 'web.yml'), `# grafana removed\nbasic_auth_users:\n  prometheus: ${HASH}\n`)
  t.same(await server.reload(), { ok: true }, 'the same text again is no prefix: it loads (a certificate rotation reloads so)')
  // The config given as an object has no file in force: the file read next is compared with nothing.
  t.same(await server.reload({ metrics_server: '127.0.0.1:0' }), { ok: true })
  writeFileSync(join(dir, 'config.toml'), 'metrics_server = "127.0.0.1:0"\n')
  t.same(await server.reload(), { ok: true })
})

t.test('a file that changes while it is read is refused, and the reload with it', async (t) => {
  // Big enough that reading it takes many turns of the event loop; a line is appended at every turn.
  const filler = `${'# a long comment line of a generated config\n'.repeat(40_000)}concurrent = 2\n`
  const dir = t.testdir({ 'config.toml': filler })
  const file = join(dir, 'config.toml')
  const whileAppending = async <T>(work: Promise<T>): Promise<T> => {
    const state = { done: false }
    work.then(() => { state.done = true }, () => { state.done = true })
    while (!state.done) {
      appendFileSync(file, '# more\n')
      await new Promise((resolve) => setImmediate(resolve))
    }
    return await work
  }
  await t.rejects(whileAppending(loadConfig(file)), { name: 'ConfigError', message: `${file}: changed while it was read (still being written?); write it to a new file, then rename that into place` })
  writeFileSync(file, `metrics_server = "127.0.0.1:0"\n${filler}`)
  const server = await startMetricsServer({ configFile: file, logger: pino({ level: 'silent' }) })
  t.teardown(() => server.close())
  t.match(await whileAppending(server.reload()), { ok: false, error: /config\.toml: changed while it was read/ })
  t.equal(server.config.concurrent, 2, 'the old config stays')
  t.same(await server.reload(), { ok: true }, 'read again once still, it loads')
})

t.test('SIGHUP: a half-written web config or config.toml is refused; the real server keeps TLS and auth', async (t) => {
  const dir = t.testdir({ 'config.toml': CONFIG, 'web.yml': WEB_CONFIG })
  const server = runServer(['--config', join(dir, 'config.toml')], { t })
  await server.waitFor(/listening on https:/)
  const url = `${server.url()}/metrics`
  t.same(await policy(url), IN_FORCE)
  // Caught after its first line, and after the TLS part: both loaded before as "no users" (and "no TLS").
  const web = join(dir, 'web.yml')
  const cuts = [WEB_CONFIG.indexOf('tls_server_config:\n') + 'tls_server_config:\n'.length, WEB_CONFIG.indexOf('basic_auth_users:\n') + 'basic_auth_users:\n'.length]
  for (const [index, cut] of cuts.entries()) {
    writeFileSync(web, WEB_CONFIG.slice(0, cut))
    server.child.kill('SIGHUP')
    await server.waitFor(new RegExp(`config reload failed, the previous config stays in force: .*web\\.yml: holds only the first ${cut} of the ${WEB_CONFIG.length} bytes`))
    t.same(await policy(url), IN_FORCE, `web.yml cut ${index + 1}: TLS and auth still in force`)
  }
  writeFileSync(web, WEB_CONFIG)
  // config.toml without its runners and web_config_file line.
  const cut = CONFIG.indexOf('web_config_file')
  writeFileSync(join(dir, 'config.toml'), CONFIG.slice(0, cut))
  server.child.kill('SIGHUP')
  await server.waitFor(new RegExp(`config reload failed, the previous config stays in force: .*config\\.toml: holds only the first ${cut} of the ${CONFIG.length} bytes`))
  t.same(await policy(url), IN_FORCE, 'config.toml cut: the web config stays in force')
  writeFileSync(join(dir, 'config.toml'), CONFIG)
  server.child.kill('SIGHUP')
  await server.waitFor(/config reloaded/)
  t.same(await policy(url), IN_FORCE)
})

import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { Agent, get } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import pino from 'pino'
import { Counter } from 'prom-client'
import t from 'tap'
import { BuildTracker } from '../lib/index.js'
import { ListenError, startMetricsServer } from '../lib/server/index.js'
import { parseSamples, series, until } from './helpers.js'

// Reloads are all or nothing, with no unauthenticated moment, and never leave the server listening nowhere.
t.setTimeout(120_000)

const PASSWORD = 'correct horse battery staple'
const HASH = bcrypt.hashSync(PASSWORD, 4)
const AUTH = `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}`

async function status (url: string, agent: Agent | false = false, headers: Record<string, string> = {}): Promise<string> {
  return await new Promise((resolve) => {
    get(url, { agent, headers }, (response) => {
      response.resume()
      response.on('end', () => resolve(String(response.statusCode)))
    }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code!))
  })
}

async function body (url: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let text = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => resolve(text))
    }).on('error', reject)
  })
}

function urlOf (server: { address: () => { address: string, port: number } | undefined }, path = '/metrics'): string {
  const { address, port } = server.address()!
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}${path}`
}

async function portHeldBy (t: { teardown: (cleanup: () => void) => void }, host: string, port = 0): Promise<number> {
  const blocker = createNetServer().listen(port, host)
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  return (blocker.address() as { port: number }).port
}

/** Whether `port` on `host` can be bound right now. */
async function free (host: string, port: number): Promise<boolean> {
  const probe = createNetServer()
  return await new Promise((resolve) => {
    probe.once('error', () => resolve(false))
    probe.listen(port, host, () => probe.close(() => resolve(true)))
  })
}

t.test('a reload that moves the address and adds basic auth never answers 200 without credentials, on either listener', async (t) => {
  const dir = t.testdir({ 'web.yml': `basic_auth_users:\n  prometheus: ${HASH}\n` })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 30_000 })
  t.teardown(() => server.close())
  // A scrape held in flight keeps the old listener draining for as long as the test needs.
  let release: () => void = () => {}
  let entered: () => void = () => {}
  const inCollector = new Promise<void>((resolve) => { entered = resolve })
  let gated = true
  new Counter({ name: 'gate_total', help: 'x', registers: [server.registry], collect: () => { if (!gated) return; gated = false; entered(); return new Promise<void>((resolve) => { release = resolve }) } }).inc()
  const before = urlOf(server, '/-/healthy')
  const held = status(urlOf(server))
  await inCollector
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())
  const state = { done: false, after: undefined as string | undefined }
  const seen = new Map<string, number>()
  const count = (label: string): void => { seen.set(label, (seen.get(label) ?? 0) + 1) }
  const hammer = async (url: () => string | undefined, label: string): Promise<void> => {
    while (!state.done) {
      const target = url()
      if (target === undefined) { await new Promise((resolve) => setImmediate(resolve)); continue }
      count(`${label} ${await status(target, agent)}`)
    }
  }
  const reloading = server.reload({ metrics_server: '127.0.0.2:0', web_config_file: join(dir, 'web.yml') })
  // The new address is known the moment it is bound; hammer both while the old one drains.
  while (server.address()?.address !== '127.0.0.2') await new Promise((resolve) => setImmediate(resolve))
  state.after = urlOf(server, '/-/healthy')
  const hammers = [
    ...Array.from({ length: 3 }, async () => await hammer(() => before, 'old')),
    ...Array.from({ length: 3 }, async () => await hammer(() => state.after, 'new'))
  ]
  while ((seen.get('new 401') ?? 0) + (seen.get('new 200') ?? 0) < 20) await new Promise((resolve) => setTimeout(resolve, 10))
  release()
  t.same(await reloading, { ok: true })
  // Sent without credentials before auth was on, answered after: judged by the web config in force then.
  t.equal(await held, '401', 'the held scrape was answered, as the reload says')
  state.done = true
  await Promise.all(hammers)
  t.equal(seen.get('new 200'), undefined, `no unauthenticated answer on the new address: ${JSON.stringify(Object.fromEntries(seen))}`)
  t.equal(seen.get('old 200'), undefined, 'nor on the old one')
  t.ok((seen.get('new 401') ?? 0) > 0, 'the new address asks for credentials')
  t.equal(await status(state.after, false, { authorization: AUTH }), '200', 'and lets them in')
})

t.test('a reload refused late (too many runners) changes nothing: listener, web config, limits, log line', async (t) => {
  const dir = t.testdir({ 'web.yml': `basic_auth_users:\n  prometheus: ${HASH}\n` })
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const tracker = new BuildTracker({ maxRunners: 2 })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', runners: [{ name: 'a', limit: 1 }] }, tracker, logger })
  t.teardown(() => server.close())
  const url = urlOf(server)
  const result = await server.reload({
    metrics_server: '127.0.0.2:0',
    web_config_file: join(dir, 'web.yml'),
    concurrent: 9,
    runners: [{ name: 'a', limit: 7 }, { name: 'b', limit: 1 }, { name: 'c', limit: 1 }]
  })
  t.match(result, { ok: false, error: /runner "c" would be runner number 3; the tracker accepts at most 2/ })
  t.equal(server.address()!.address, '127.0.0.1', 'still where it was')
  t.equal(urlOf(server), url)
  const samples = parseSamples(await body(url))
  t.equal(samples.get(series('runner_limit', { runner: 'a' })), 1, 'the old limit stays')
  t.equal(samples.get(series('runner_limit', { runner: 'b' })), undefined, 'no runner was added')
  t.equal(samples.get('runner_concurrent'), 1)
  t.equal(samples.get('runner_config_load_errors_total'), 1)
  t.equal(server.config.concurrent, 1)
  t.equal(await free('127.0.0.2', server.address()!.port), true)
  t.notMatch(lines.join(''), /listening on http:\/\/127\.0\.0\.2/, 'no listener was opened on the refused address')
  t.match(lines.join(''), /config reload failed, the previous config stays in force/)
})

t.test('the same cap at start rejects and releases the port', async (t) => {
  const probe = createNetServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const target = (probe.address() as { port: number }).port
  await new Promise((resolve) => probe.close(resolve))
  const tracker = new BuildTracker({ maxRunners: 1 })
  await t.rejects(startMetricsServer({ config: { metrics_server: `127.0.0.1:${target}`, runners: [{ name: 'a' }, { name: 'b' }] }, tracker }), /runner "b" would be runner number 2/)
  t.equal(await free('127.0.0.1', target), true, 'the port is free again')
  t.same([...tracker.runners()].map((runner) => runner.name), [], 'and the tracker is as it was')
})

t.test('same port, another host: :PORT <-> 127.0.0.1:PORT and localhost rebind in place', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  t.teardown(() => server.close())
  const { port } = server.address()!
  t.same(await server.reload({ metrics_server: `:${port}` }), { ok: true }, '127.0.0.1 -> every interface')
  t.equal(server.address()!.port, port)
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
  t.same(await server.reload({ metrics_server: `127.0.0.1:${port}` }), { ok: true }, 'every interface -> 127.0.0.1')
  t.equal(server.address()!.address, '127.0.0.1')
  t.same(await server.reload({ metrics_server: `localhost:${port}` }), { ok: true }, '127.0.0.1 -> localhost')
  t.same(await server.reload({ metrics_server: `0.0.0.0:${port}` }), { ok: true }, 'localhost -> 0.0.0.0')
  t.equal(server.address()!.address, '0.0.0.0')
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
})

t.test('same port, another host, taken by someone else too: the old address is bound again', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', concurrent: 2 }, logger })
  t.teardown(() => server.close())
  const { port } = server.address()!
  // Beside ours on 127.0.0.1, so that every interface cannot be bound even once ours is closed.
  await portHeldBy(t, '127.0.0.2', port)
  const result = await server.reload({ metrics_server: `:${port}`, concurrent: 5 })
  t.same(result, { ok: false, error: `cannot listen on 0.0.0.0:${port}: the address is already in use` })
  t.same({ address: server.address()!.address, port: server.address()!.port }, { address: '127.0.0.1', port }, 'back where it was')
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
  t.equal(parseSamples(await body(`http://127.0.0.1:${port}/metrics`)).get('runner_concurrent'), 2, 'the old config is in force')
  t.match(lines.join(''), /config reload failed, the previous config stays in force: cannot listen on 0\.0\.0\.0/)
})

t.test('HTTP -> TLS -> HTTP at the same address, and basic auth with it', async (t) => {
  const { makeCerts } = await import('./certs.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const dir = t.testdir({})
  await writeFile(join(dir, 'web.yml'), `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\nbasic_auth_users:\n  prometheus: ${HASH}\n`)
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  t.teardown(() => server.close())
  const { port } = server.address()!
  t.same(await server.reload({ metrics_server: `127.0.0.1:${port}`, web_config_file: join(dir, 'web.yml') }), { ok: true })
  t.equal(server.address()!.port, port)
  t.not(await status(`http://127.0.0.1:${port}/-/ready`), '200', 'plain HTTP gets no answer')
  t.same(await server.reload({ metrics_server: `127.0.0.1:${port}` }), { ok: true })
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
})

t.test('listen errors carry a code and stay ListenErrors', async (t) => {
  const port = await portHeldBy(t, '127.0.0.1')
  const error = await startMetricsServer({ config: { metrics_server: `127.0.0.1:${port}` } }).catch((error: unknown) => error)
  t.ok(error instanceof ListenError)
  t.match(error, { name: 'ListenError', code: 'FST_RUNNER_METRICS_LISTEN_FAILED', message: `cannot listen on 127.0.0.1:${port}: the address is already in use` })
})

/** The TLS part of a web config: the test server certificate and the client policy lines given. */
function tlsConfig (certs: import('./certs.js').Certs, policy: string[]): string {
  return ['tls_server_config:', `  cert_file: ${certs.serverCert}`, `  key_file: ${certs.serverKey}`, ...policy.map((line) => `  ${line}`), ''].join('\n')
}

/** A collector that holds the scrapes it meets while `hold` says so, until `release()`. */
function holdScrapes (registry: import('prom-client').Registry): { held: () => number, release: () => void } {
  const waiting: Array<() => void> = []
  new Counter({ name: 'held_total', help: 'x', registers: [registry], collect: async () => { await new Promise<void>((resolve) => waiting.push(resolve)) } }).inc()
  return { held: () => waiting.length, release: () => { for (const resolve of waiting.splice(0)) resolve() } }
}

t.test('TLS client policy on reload: kept-alive connections of clients the new policy refuses are closed at commit, others go on', async (t) => {
  const { makeCerts, clientCert } = await import('./certs.js')
  const { KeptConnection } = await import('./kept-connection.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const other = makeCerts()
  t.teardown(other.cleanup)
  const b = clientCert(certs, 'b', ['DNS.1 = b.scraper'])
  const c = clientCert(other, 'c', ['DNS.1 = b.scraper'])
  const dir = t.testdir({ 'both-cas.crt': certs.read(certs.ca) + certs.read(other.ca) })
  const web = join(dir, 'web.yml')
  const policy = (ca: string, sans: string): string => tlsConfig(certs, ['client_auth_type: RequireAndVerifyClientCert', `client_ca_file: ${ca}`, `client_allowed_sans: [${sans}]`])
  await writeFile(web, policy(join(dir, 'both-cas.crt'), 'prometheus.scraper, b.scraper'))
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', web_config_file: web } })
  t.teardown(() => server.close())
  const { port } = server.address()!
  const ca = certs.read(certs.ca) + other.read(other.ca)
  const as = (client: { cert: string, key: string }): import('./kept-connection.js').TlsClient => ({ ca, cert: certs.read(client.cert), key: certs.read(client.key) })
  const open = async (client: { cert: string, key: string }): Promise<InstanceType<typeof KeptConnection>> => {
    const connection = await KeptConnection.open(port, as(client))
    t.teardown(() => connection.destroy())
    return connection
  }

  // Narrowed SANs: A (prometheus.scraper) is out, B stays.
  const a = await open({ cert: certs.clientCert, key: certs.clientKey })
  const kept = await open(b)
  const aInFlight = await open({ cert: certs.clientCert, key: certs.clientKey })
  const scrapes = holdScrapes(server.registry)
  const held = aInFlight.request('/metrics')
  await until(() => scrapes.held() === 1)
  await writeFile(web, policy(join(dir, 'both-cas.crt'), 'b.scraper'))
  t.same(await server.reload(), { ok: true })
  scrapes.release()
  t.equal(await held, 'closed', 'A\'s scrape in flight across the commit is not answered')
  t.equal(await a.request('/-/healthy'), 'closed', 'A\'s kept-alive connection was closed at commit')
  t.equal(await kept.request('/-/healthy'), 200, 'B\'s kept-alive connection goes on')
  await t.rejects(open({ cert: certs.clientCert, key: certs.clientKey }), 'A cannot connect again')

  // Another CA: C (from the other CA, same SAN as B) stays, B (this CA) is out.
  const fromOther = await open(c)
  t.equal(await fromOther.request('/-/healthy'), 200)
  const bInFlight = await open(b)
  const heldB = bInFlight.request('/metrics')
  await until(() => scrapes.held() === 1)
  await writeFile(web, policy(other.ca, 'b.scraper'))
  t.same(await server.reload(), { ok: true })
  scrapes.release()
  t.equal(await heldB, 'closed', 'B\'s scrape in flight across the CA swap is not answered')
  t.equal(await kept.request('/-/healthy'), 'closed', 'B\'s kept-alive connection was closed: its CA is no longer trusted')
  t.equal(await fromOther.request('/-/healthy'), 200, 'C\'s goes on')

  // The server certificate alone rotated: nothing changes for open connections.
  await writeFile(web, policy(other.ca, 'b.scraper').replace(certs.serverCert, other.serverCert).replace(certs.serverKey, other.serverKey))
  t.same(await server.reload(), { ok: true })
  t.equal(await fromOther.request('/-/healthy'), 200, 'C\'s connection outlives the server certificate it was opened with')
})

t.test('TLS client policy on reload: a listener still draining from an earlier move closes refused clients too', async (t) => {
  const { makeCerts } = await import('./certs.js')
  const { KeptConnection } = await import('./kept-connection.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const dir = t.testdir({})
  const web = join(dir, 'web.yml')
  const policy = (sans: string): string => tlsConfig(certs, ['client_auth_type: RequireAndVerifyClientCert', `client_ca_file: ${certs.ca}`, `client_allowed_sans: [${sans}]`])
  await writeFile(web, policy('prometheus.scraper'))
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', web_config_file: web }, closeGraceMs: 30_000 })
  t.teardown(() => server.close())
  const a = await KeptConnection.open(server.address()!.port, { ca: certs.read(certs.ca), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) })
  t.teardown(() => a.destroy())
  const scrapes = holdScrapes(server.registry)
  const held = a.request('/metrics')
  await until(() => scrapes.held() === 1)
  t.same(await server.reload({ metrics_server: '127.0.0.2:0', web_config_file: web }), { ok: true }, 'moved: the old listener drains A\'s scrape')
  await writeFile(web, policy('other.scraper'))
  t.same(await server.reload({ metrics_server: '127.0.0.2:0', web_config_file: web }), { ok: true })
  scrapes.release()
  t.equal(await held, 'closed', 'the scrape on the draining listener is not answered after the reload that refuses A')
})

t.test('TLS client policy on reload: another client_auth_type, HTTP -> TLS and TLS -> HTTP at the same address', async (t) => {
  const { makeCerts } = await import('./certs.js')
  const { KeptConnection } = await import('./kept-connection.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const dir = t.testdir({})
  const web = join(dir, 'web.yml')
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 30_000 })
  t.teardown(() => server.close())
  const { port } = server.address()!
  const scrapes = holdScrapes(server.registry)
  const reload = async (policy: string[] | undefined): Promise<void> => {
    if (policy !== undefined) await writeFile(web, tlsConfig(certs, policy))
    t.same(await server.reload({ metrics_server: `127.0.0.1:${port}`, ...(policy === undefined ? {} : { web_config_file: web }) }), { ok: true })
  }
  // Wrapped: an async function returning the answer's promise would wait for the answer.
  const inFlight = async (tls?: import('./kept-connection.js').TlsClient): Promise<{ answer: Promise<number | 'closed'> }> => {
    const connection = await KeptConnection.open(port, tls)
    t.teardown(() => connection.destroy())
    const answer = connection.request('/metrics')
    await until(() => scrapes.held() === 1)
    return { answer }
  }

  const plain = await inFlight()
  await reload(['client_auth_type: RequestClientCert'])
  scrapes.release()
  t.equal(await plain.answer, 'closed', 'a plain HTTP scrape in flight when TLS became required is not answered')

  const stranger = await inFlight({ ca: certs.read(certs.ca), cert: certs.read(certs.strangerCert), key: certs.read(certs.strangerKey) })
  await reload(['client_auth_type: RequireAndVerifyClientCert', `client_ca_file: ${certs.ca}`])
  scrapes.release()
  t.equal(await stranger.answer, 'closed', 'nor one of a client whose certificate the new client_auth_type refuses')

  const client = await inFlight({ ca: certs.read(certs.ca), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) })
  await reload(undefined)
  scrapes.release()
  t.equal(await client.answer, 200, 'a TLS scrape in flight when TLS is turned off is answered: nothing refuses it')
})

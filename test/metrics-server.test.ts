import { Agent, get } from 'node:http'
import { once } from 'node:events'
import { connect, createServer as createNetServer } from 'node:net'
import { Counter } from 'prom-client'
import pino from 'pino'
import t from 'tap'
import { BuildTracker } from '../lib/index.js'
import { startMetricsServer } from '../lib/server/index.js'
import { parseSamples, series } from './helpers.js'

async function fetchText (url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, body }))
    }).on('error', reject)
  })
}

function urlOf (server: { address: () => { address: string, port: number } | undefined }, path = '/metrics'): string {
  const address = server.address()!
  return `http://${address.address}:${address.port}${path}`
}

// Real sockets, and one test waits out the 10 s header timeout: a limit with margin for a busy machine.
t.setTimeout(120_000)

t.test('embedded: the manager feeds its tracker, the server reports it', async (t) => {
  const tracker = new BuildTracker()
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', concurrent: 3, runners: [{ name: 'r', limit: 2 }] }, tracker })
  t.teardown(() => server.close())
  t.equal(server.tracker, tracker)
  tracker.start({ id: 1, runner: 'r' }).setStage('step_script')
  const samples = parseSamples((await fetchText(urlOf(server))).body)
  t.equal(samples.get(series('runner_builds', { runner: 'r', state: 'running', stage: 'step_script' })), 1)
  t.equal(samples.get('runner_concurrent'), 3)
  t.equal(samples.get(series('runner_limit', { runner: 'r' })), 2)
  t.equal(samples.get('runner_config_loaded_total'), 1)
  t.equal(samples.get('runner_config_load_errors_total'), 0)
  t.ok(Math.abs(samples.get('runner_config_last_load_success_timestamp_seconds')! - Date.now() / 1000) < 60)
  t.match((await fetchText(urlOf(server, '/debug/jobs/list'))).body, /^id=1 runner=r state=running stage=step_script duration=/)
})

t.test('embedded: reload with an object rebinds, applies limits and counts', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', runners: [{ name: 'a', limit: 1 }] } })
  t.teardown(() => server.close())
  const before = urlOf(server)
  t.same(await server.reload({ metrics_server: '127.0.0.2:0', runners: [{ name: 'a', limit: 5 }], concurrent: 9 }), { ok: true })
  t.equal(server.address()!.address, '127.0.0.2')
  await t.rejects(fetchText(before), { code: 'ECONNREFUSED' }, 'the old listener is closed')
  const samples = parseSamples((await fetchText(urlOf(server))).body)
  t.equal(samples.get(series('runner_limit', { runner: 'a' })), 5)
  t.equal(samples.get('runner_concurrent'), 9)
  t.equal(samples.get('runner_config_loaded_total'), 2)
  t.equal(server.config.concurrent, 9)
})

t.test('embedded: a bad config or a busy port on reload keeps the old server and counts', async (t) => {
  const blocker = createNetServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const busyPort = (blocker.address() as { port: number }).port
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', concurrent: 2 } })
  t.teardown(() => server.close())
  const url = urlOf(server)
  t.same(await server.reload({ concurrent: 'many' }), { ok: false, error: 'concurrent must be an integer, got a string' })
  t.same(await server.reload({ metrics_server: `127.0.0.1:${busyPort}`, concurrent: 7 }), { ok: false, error: `cannot listen on 127.0.0.1:${busyPort}: the address is already in use` })
  const samples = parseSamples((await fetchText(url)).body)
  t.equal(samples.get('runner_config_load_errors_total'), 2)
  t.equal(samples.get('runner_config_loaded_total'), 1)
  t.equal(samples.get('runner_concurrent'), 2, 'the old config stays in force')
})

t.test('embedded: disabled until a reload sets metrics_server, and back', async (t) => {
  const server = await startMetricsServer({ config: {} })
  t.teardown(() => server.close())
  t.equal(server.address(), undefined)
  server.tracker.start({ id: 1, runner: 'r' })
  await server.reload({ metrics_server: '127.0.0.1:0' })
  const samples = parseSamples((await fetchText(urlOf(server))).body)
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'r' })), 1, 'nothing was lost while disabled')
  const url = urlOf(server)
  await server.reload({})
  t.equal(server.address(), undefined)
  await t.rejects(fetchText(url), { code: 'ECONNREFUSED' })
})

t.test('embedded: the metricsServer override wins over the config, on reload too', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.2:0' }, metricsServer: '127.0.0.3:0' })
  t.teardown(() => server.close())
  t.equal(server.address()!.address, '127.0.0.3')
  await server.reload({ metrics_server: '127.0.0.4:0' })
  t.equal(server.address()!.address, '127.0.0.3')
  await t.rejects(startMetricsServer({ metricsServer: 'nope:nope' }), { name: 'ConfigError', message: /metrics server address override: address "nope:nope"/ })
})

t.test('embedded: close waits for a scrape in flight, then refuses new ones', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  let release: () => void = () => {}
  let entered: () => void = () => {}
  const inCollector = new Promise<void>((resolve) => { entered = resolve })
  new Counter({ name: 'gate_total', help: 'x', registers: [server.registry], collect: () => { entered(); return new Promise<void>((resolve) => { release = resolve }) } }).inc()
  const url = urlOf(server)
  const scrape = fetchText(url)
  await inCollector
  const ready = await fetchText(urlOf(server, '/-/ready'))
  t.equal(ready.status, 200)
  let closed = false
  const closing = server.close().then(() => { closed = true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(closed, false, 'close waits for the scrape')
  release()
  const response = await scrape
  t.equal(response.status, 200)
  t.match(response.body, /^gate_total 1$/m)
  await closing
  await server.close()
  t.equal(await server.reload({}).then((result) => result.ok), false, 'no reload after close')
  await t.rejects(fetchText(url), { code: 'ECONNREFUSED' })
})

t.test('embedded: a stuck connection is cut after closeGraceMs', async (t) => {
  // A reset, not the 503 the scrape timeout (5 s) would answer, shows close did not wait for it.
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 100 })
  let entered: () => void = () => {}
  const inCollector = new Promise<void>((resolve) => { entered = resolve })
  new Counter({ name: 'stuck_total', help: 'x', registers: [server.registry], collect: () => { entered(); return new Promise<void>(() => {}) } }).inc()
  const scrape = fetchText(urlOf(server)).catch((error: Error) => error)
  await inCollector
  await server.close()
  t.match(await scrape, { code: 'ECONNRESET' })
})

t.test('embedded: health and readiness answer while serving, and nothing once shutdown starts', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  t.same(await fetchText(urlOf(server, '/-/healthy')), { status: 200, body: 'Healthy.\n' })
  t.same(await fetchText(urlOf(server, '/-/ready')), { status: 200, body: 'Ready.\n' })
  const url = urlOf(server, '/-/ready')
  await server.close()
  await t.rejects(fetchText(url), { code: 'ECONNREFUSED' })
})

t.test('embedded: configFile and config together are refused', async (t) => {
  await t.rejects(startMetricsServer({ configFile: 'x.toml', config: {} }), /give configFile or config, not both/)
})

t.test('embedded: a port taken at start fails with a ListenError and leaves nothing behind', async (t) => {
  const blocker = createNetServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  await t.rejects(startMetricsServer({ config: { metrics_server: `127.0.0.1:${port}` } }), { name: 'ListenError', message: `cannot listen on 127.0.0.1:${port}: the address is already in use` })
  await t.rejects(startMetricsServer({ config: { metrics_server: '192.0.2.1:0' } }), { name: 'ListenError', message: 'cannot listen on 192.0.2.1:0: the address is not on this machine' })
})

t.test('embedded: your own logger gets the lines, and log_level does not touch it', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', log_level: 'error' }, logger })
  t.teardown(() => server.close())
  t.match(lines.join(''), /metrics server listening on http:\/\/127\.0\.0\.1:\d+/)
  t.equal(logger.level, 'info')
})

t.test('embedded: an address that cannot be listened on is reported as Node says', async (t) => {
  await t.rejects(startMetricsServer({ config: { metrics_server: '[fe80::1]:0' } }), { name: 'ListenError', message: 'cannot listen on [fe80::1]:0: listen EINVAL: invalid argument fe80::1' })
})

t.test('embedded: no options at all is a disabled server with a tracker to feed', async (t) => {
  const server = await startMetricsServer()
  t.equal(server.address(), undefined)
  t.equal(server.config.concurrent, 1)
  t.same(await server.reload({ concurrent: 2 }), { ok: true }, 'a reload that keeps it disabled')
  t.equal(server.address(), undefined)
  server.tracker.start({ id: 1, runner: 'r' })
  await server.close()
})

t.test('closing: a connection that never sends a request is ended after its grace, not kept for closeGraceMs', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 30_000 })
  const { port } = server.address()!
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const ended = once(socket, 'end')
  const started = Date.now()
  await server.close()
  await ended
  const took = Date.now() - started
  t.ok(took >= 1900 && took < 10_000, `ended after ${took} ms`)
  socket.destroy()
})

t.test('closing: a request pipelined behind a scrape in flight is answered, and it closes the connection', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  let release: () => void = () => {}
  let entered: () => void = () => {}
  const inCollector = new Promise<void>((resolve) => { entered = resolve })
  let calls = 0
  new Counter({ name: 'gate_total', help: 'x', registers: [server.registry], collect: () => { if (++calls === 1) { entered(); return new Promise<void>((resolve) => { release = resolve }) } } }).inc()
  const socket = connect(server.address()!.port, '127.0.0.1')
  let received = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { received += chunk })
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
  await inCollector
  const closing = server.close()
  socket.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 100))
  release()
  await once(socket, 'close')
  await closing
  const answers = received.split(/(?=HTTP\/1\.1 )/)
  t.equal(answers.length, 2, 'both requests were answered')
  t.match(answers[0], /^HTTP\/1\.1 200 OK\r\n/)
  t.notMatch(answers[0], /[Cc]onnection: close/, 'the first keeps the connection for the one behind it')
  t.match(answers[1], /^HTTP\/1\.1 200 OK\r\n[\s\S]*[Cc]onnection: close\r\n[\s\S]*Healthy\.\n$/, 'the last one closes it')
})

t.test('closing: a request sent on an open connection just after close started is still answered', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  const socket = connect(server.address()!.port, '127.0.0.1')
  await once(socket, 'connect')
  let received = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { received += chunk })
  const closing = server.close()
  await new Promise((resolve) => setTimeout(resolve, 100))
  socket.write('GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n')
  await once(socket, 'close')
  await closing
  t.match(received, /^HTTP\/1\.1 200 OK\r\n[\s\S]*[Cc]onnection: close\r\n[\s\S]*Ready\.\n$/, 'answered, with Connection: close')
})

t.test('embedded: the scrape limits reach the metrics route', async (t) => {
  const server = await startMetricsServer({ config: {}, maxScrapesInFlight: 1, scrapeTimeout: 30 })
  t.teardown(() => server.close())
  let release: () => void = () => {}
  new Counter({ name: 'slow_total', help: 'x', registers: [server.registry], collect: () => new Promise<void>((resolve) => { release = resolve }) }).inc()
  const first = server.app.inject('/metrics')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await server.app.inject('/metrics')).statusCode, 503, 'one scrape at a time')
  t.equal((await first).body, 'scrape timed out after 30 ms\n')
  release()
})

t.test('slow or stuck clients are cut off: headers within 10 s, at most 8 KiB of them', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' } })
  t.teardown(() => server.close())
  const { port } = server.address()!
  const big = connect(port, '127.0.0.1')
  let bigAnswer = ''
  big.setEncoding('utf8').on('data', (chunk: string) => { bigAnswer += chunk })
  big.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(9000)}\r\n\r\n`)
  await once(big, 'close')
  t.match(bigAnswer, /^HTTP\/1\.1 431 /, 'headers over 8 KiB get 431')

  // Half a request line, all the headers but the blank line, and nothing at all: Node 20 times out each the same.
  const cutOff = await Promise.all(['GET /met', 'GET /metrics HTTP/1.1\r\nHost: x\r\n', ''].map(async (sent) => {
    const stuck = connect(port, '127.0.0.1')
    await once(stuck, 'connect')
    stuck.write(sent)
    const started = Date.now()
    let answer = ''
    stuck.setEncoding('utf8').on('data', (chunk: string) => { answer += chunk })
    await once(stuck, 'close')
    return { sent, took: Date.now() - started, answer }
  }))
  for (const { sent, took, answer } of cutOff) {
    // Below the 30 s request timeout, which would also answer 408: it is the headers' 10 s that cut it.
    t.ok(took >= 9_000 && took < 25_000, `a client that sent ${JSON.stringify(sent)} is cut off after ${took} ms`)
    t.match(answer, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout')
  }
})

t.test('slow or stuck clients are cut off: a TLS handshake within 10 s', async (t) => {
  const { makeCerts } = await import('./certs.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const dir = t.testdir({ 'web.yml': `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n` })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', web_config_file: `${dir}/web.yml` } })
  t.teardown(() => server.close())
  // Nothing, and the first bytes of a ClientHello.
  const took = await Promise.all([Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])].map(async (sent) => {
    const stuck = connect(server.address()!.port, '127.0.0.1').on('error', () => {}).resume()
    await once(stuck, 'connect')
    stuck.write(sent)
    const started = Date.now()
    await once(stuck, 'close')
    return Date.now() - started
  }))
  for (const ms of took) t.ok(ms >= 9_000 && ms < 25_000, `a handshake never finished is cut off after ${ms} ms`)
})

t.test('closing: clients that keep reusing their connections do not hold the old listener open', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 30_000 })
  const url = urlOf(server, '/-/healthy')
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())
  const state = { closed: false }
  const statuses = new Map<string, number>()
  const hammer = async (): Promise<void> => {
    while (!state.closed) {
      const status = await new Promise<string>((resolve) => {
        get(url, { agent }, (response) => { response.resume(); response.on('end', () => resolve(String(response.statusCode))) }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code!))
      })
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const hammers = Array.from({ length: 4 }, hammer)
  // Connections in use, however slowly a busy machine gets there.
  while ((statuses.get('200') ?? 0) <= 10) await new Promise((resolve) => setTimeout(resolve, 10))
  const started = Date.now()
  await server.close()
  const took = Date.now() - started
  state.closed = true
  await Promise.all(hammers)
  // Half of closeGraceMs: tells "did not wait for the grace" apart on a busy machine too.
  t.ok(took < 15_000, `closed in ${took} ms, not after closeGraceMs`)
  t.ok(statuses.get('200')! > 10, `${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal(statuses.get('ECONNRESET'), undefined, 'no answer was cut off')
})

t.test('embedded: maxConnections must be a whole number of at least 1', async (t) => {
  for (const value of [0, -1, 1.5, '10', Infinity]) {
    await t.rejects(startMetricsServer({ config: {}, maxConnections: value as number }), { name: 'FastifyError', code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: /^fastify-runner-metrics: startMetricsServer option "maxConnections" must be an integer of at least 1, got / })
  }
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, maxConnections: 1 })
  t.teardown(() => server.close())
  const samples = parseSamples((await fetchText(urlOf(server))).body)
  t.equal(samples.get('runner_metrics_server_connections_evicted_total'), 0, 'the counters are there from the start')
  t.equal(samples.get('runner_metrics_server_connections_refused_total'), 0)
})

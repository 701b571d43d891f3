// Connections a client opens and never uses cannot take the server's file descriptors:
// each listener holds at most maxConnections, and at the cap idle ones make room for new ones.
import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseSamples } from './helpers.js'

const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url))

async function status (port: number, path = '/metrics'): Promise<number | string> {
  return await new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode!))
    }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code!))
  })
}

async function body (port: number, path = '/metrics'): Promise<string> {
  return await new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let text = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => resolve(text))
    }).on('error', reject)
  })
}

/** Resolves once `listener` has accepted `count` connections (getConnections answers within the turn: wait a turn between asks). */
async function accepted (listener: { server: { getConnections: (callback: (error: Error | null, count: number) => void) => void } }, count: number): Promise<void> {
  for (;;) {
    const open = await new Promise<number>((resolve) => listener.server.getConnections((error, open) => resolve(error === null ? open : -1)))
    if (open === count) return
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('2,000 idle connections held open (and opened again when closed) against the default soft limit of 1024 files: scrapes still answer', { timeout: 120_000 }, async (t) => {
  const node = [process.execPath, ...process.execArgv, fixture('metrics-server.ts')].map((word) => `'${word}'`).join(' ')
  const child = spawn('/bin/sh', ['-c', `ulimit -n 1024 && exec ${node}`], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  let exited = false
  child.once('exit', () => { exited = true })
  const { until } = await import('./helpers.js')
  await until(() => stdout.includes('\n') || exited)
  t.notOk(exited, stderr)
  const { port } = JSON.parse(stdout.split('\n', 1)[0]!) as { port: number }

  const attacker = spawn(process.execPath, [...process.execArgv, fixture('idle-connections.ts'), String(port), '2000'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { attacker.kill('SIGKILL') })
  let flooding = false
  attacker.stdout.setEncoding('utf8').on('data', (chunk: string) => { if (chunk.includes('flooding')) flooding = true })
  await until(() => flooding)

  const answers: Array<number | string> = []
  for (let i = 0; i < 5; i++) answers.push(await status(port))
  t.same(answers, [200, 200, 200, 200, 200], 'every scrape made during the flood is answered')
  t.notOk(exited, 'the server is still running')

  attacker.kill('SIGKILL')
  const samples = parseSamples(await body(port))
  t.ok(samples.get('runner_metrics_server_connections_evicted_total')! > 0, `idle connections were closed for new ones: ${samples.get('runner_metrics_server_connections_evicted_total')}`)
  const lines = stdout.split('\n').filter((line) => line.includes('metrics server at maxConnections (512 a listener)'))
  // Once a minute at most: one line unless the flood outlasted a minute on a very busy machine.
  t.ok(lines.length >= 1 && lines.length <= 2, `the cap was logged, at most once a minute: ${lines.length} line(s)`)
  child.stdin.end()
})

t.test('at the cap a new connection closes the oldest one that never completed a request, then the longest idle kept-alive one; it is refused only when all are busy', async (t) => {
  const { ConnectionCap } = await import('../lib/server/connection-cap.js')
  const { listen } = await import('../lib/server/listener.js')
  const { KeptConnection } = await import('./kept-connection.js')
  const { until } = await import('./helpers.js')
  const lines: string[] = []
  const cap = new ConnectionCap(3, (line) => lines.push(line))
  const held: Array<import('node:http').ServerResponse> = []
  const listener = await listen({ host: '127.0.0.1', port: 0 }, (request, response) => {
    if (request.url === '/hold') held.push(response)
    else response.end('ok')
  }, undefined, cap)
  t.teardown(() => listener.close(0))
  const { port } = listener.address()
  const silent = async (): Promise<Socket> => {
    const socket = connect(port, '127.0.0.1').on('error', () => {})
    t.teardown(() => socket.destroy())
    await new Promise((resolve) => socket.once('connect', resolve))
    return socket
  }
  const closed = (socket: Socket): Promise<unknown> => new Promise((resolve) => socket.once('close', resolve))

  const prometheus = await KeptConnection.open(port)
  t.teardown(() => prometheus.destroy())
  t.equal(await prometheus.request('/'), 200)
  const first = await silent()
  const second = await silent()
  await accepted(listener, 3)
  const firstClosed = closed(first)
  const third = await silent()
  await firstClosed
  t.equal(cap.evicted, 1, 'the oldest connection that never sent a request made room')
  const secondClosed = closed(second)
  const fourth = await silent()
  await secondClosed
  const thirdClosed = closed(third)
  const fifth = await silent()
  await thirdClosed
  t.equal(cap.evicted, 3, 'then the next oldest, and so on')
  t.equal(await prometheus.request('/'), 200, 'the kept-alive connection that was served is still there')

  // The two newest busy, the kept-alive one idle: it makes room.
  for (const socket of [fourth, fifth]) socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => held.length === 2)
  await accepted(listener, 3)
  const busy = await silent()
  await until(() => prometheus.closed)
  t.equal(cap.evicted, 4, 'with no connection that never completed a request, the kept-alive one goes')
  busy.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => held.length === 3)

  // Every connection busy: the newcomer is refused, and nothing else is touched.
  const refused = await silent()
  await closed(refused)
  t.equal(cap.refused, 1, 'refused when every connection has a request in progress')
  for (const response of held.splice(0)) response.end('ok')
  const after = await KeptConnection.open(port)
  t.teardown(() => after.destroy())
  t.equal(await after.request('/'), 200, 'once answers are done, idle connections make room again')
  t.equal(lines.length, 1, 'one log line for all of it (at most one a minute)')
  t.match(lines[0], /^metrics server at maxConnections \(3 a listener\): closed 1 idle connection\(s\) to make room for new ones and refused 0 new one\(s\)/)
})

t.test('TLS: connections that never finish their handshake count, and make room for one that does', async (t) => {
  const { ConnectionCap } = await import('../lib/server/connection-cap.js')
  const { listen } = await import('../lib/server/listener.js')
  const { makeCerts } = await import('./certs.js')
  const { KeptConnection } = await import('./kept-connection.js')
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const cap = new ConnectionCap(2, () => {})
  const tls = { cert: certs.read(certs.serverCert), key: certs.read(certs.serverKey), ca: undefined, clientAuth: 'NoClientCert' as const, clientAllowedSans: [], minVersion: 'TLSv1.2' as const, maxVersion: 'TLSv1.3' as const, ciphers: undefined, honorCipherOrder: true, ecdhCurve: undefined }
  const listener = await listen({ host: '127.0.0.1', port: 0 }, (request, response) => { response.end('ok') }, tls, cap)
  t.teardown(() => listener.close(0))
  const { port } = listener.address()
  const halfOpen = await Promise.all([0, 1].map(async () => {
    const socket = connect(port, '127.0.0.1').on('error', () => {}).resume()
    t.teardown(() => socket.destroy())
    await new Promise((resolve) => socket.once('connect', resolve))
    return socket
  }))
  await accepted(listener, 2)
  const scraper = await KeptConnection.open(port, { ca: certs.read(certs.ca) })
  t.teardown(() => scraper.destroy())
  t.equal(await scraper.request('/'), 200, 'the TLS client is answered')
  t.equal(cap.evicted, 1)
  const { until } = await import('./helpers.js')
  await until(() => halfOpen.some((socket) => socket.readableEnded))
  t.equal(halfOpen.filter((socket) => socket.readableEnded).length, 1, 'the oldest half-open connection made room')
})

t.test('an accept that fails later (EMFILE) is logged at most once a minute, never thrown into the host', async (t) => {
  const { ConnectionCap } = await import('../lib/server/connection-cap.js')
  const { listen } = await import('../lib/server/listener.js')
  const lines: string[] = []
  const listener = await listen({ host: '127.0.0.1', port: 0 }, (request, response) => { response.end('ok') }, undefined, new ConnectionCap(4, (line) => lines.push(line)))
  t.teardown(() => listener.close(0))
  // What net.Server emits when accept(2) fails; no test can run a real process out of descriptors at that moment.
  const error = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' })
  t.doesNotThrow(() => { listener.server.emit('error', error); listener.server.emit('error', error) })
  t.same(lines, ['metrics server could not accept a connection: accept EMFILE; this line comes at most once a minute'])
  t.equal(await status(listener.address().port, '/'), 200, 'and it goes on accepting')
})

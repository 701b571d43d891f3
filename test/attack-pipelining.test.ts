import { stat } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import bcrypt from 'bcryptjs'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import runnerMetrics from '../lib/index.js'
import { registerFamily } from '../lib/plugin/collectors/scrape-time-metric.js'
import { startMetricsServer } from '../lib/server/index.js'
import { makeCerts } from './certs.js'
import { until } from './helpers.js'

// Found by attacking the scrape rendered at once on Prometheus' connection (metrics-route.ts,
// Company): requests pipelined on one connection must never each be rendered on the spot.

/** Resolves once `text()` holds the whole first answer (its headers and Content-Length bytes). */
async function firstAnswer (text: () => string): Promise<void> {
  await until(() => {
    const match = /content-length: (\d+)\r\n[^]*?\r\n\r\n/i.exec(text())
    return match !== null && text().length >= match.index + match[0].length + Number(match[1])
  })
}

// Over HTTPS, Node's HTTP parser is handed each TLS record's plaintext in its own callback, with
// a microtask checkpoint between records: the "same synchronous run" flag of Company is reset
// between two requests of one packet. A scrape on Prometheus' connection is then rendered and
// *written* inside the parser's callback; once the pipelined answers pass the socket's
// high-water mark, Node pauses the parser in the middle of the packet, and the next record
// is refused with HPE_PAUSED: the connection is torn down and the requests already accepted on
// it are never answered. Before 6f8337f every answer was written at the check phase, after the
// whole packet was parsed, and all of them arrived.

async function httpsApp (t: Test, defaultMetrics = true): Promise<{ app: FastifyInstance, collections: () => number, clientErrors: string[] }> {
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const app = Fastify({ https: { key: certs.read(certs.serverKey), cert: certs.read(certs.serverCert) } })
  await app.register(runnerMetrics, { defaultMetrics })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  let collections = 0
  registerFamily(app.runnerRegistry, { name: 'counted', help: 'Collections.', type: 'gauge', read: () => { collections++; return [] } })
  const clientErrors: string[] = []
  app.server.on('clientError', (error: Error & { code?: string }) => { clientErrors.push(error.code ?? error.message) })
  return { app, collections: () => collections, clientErrors }
}

/**
 * A TLS connection whose records can be held back and then delivered in one TCP write: every
 * request the test writes while holding is its own TLS record, all of them in one packet.
 */
async function heldTls (t: Test, port: number): Promise<{ tls: TLSSocket, raw: Socket, hold: () => void, release: () => void }> {
  const raw = await new Promise<Socket>((resolve, reject) => { const socket = netConnect(port, '127.0.0.1', () => resolve(socket)).on('error', reject) })
  t.teardown(() => raw.destroy())
  let holding = false
  const held: Buffer[] = []
  const pipe = new Duplex({
    write (chunk: Buffer, encoding, callback) { if (holding) held.push(chunk); else raw.write(chunk); callback() },
    read () {}
  })
  raw.on('data', (data: Buffer) => pipe.push(data)).on('end', () => pipe.push(null)).on('close', () => pipe.destroy())
  const tls = await new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({ socket: pipe, rejectUnauthorized: false }, () => resolve(socket)).on('error', reject)
  })
  t.teardown(() => tls.destroy())
  return { tls, raw, hold: () => { holding = true }, release: () => { holding = false; raw.write(Buffer.concat(held.splice(0))) } }
}

const get = (method = 'GET', close = false, extra = ''): string => `${method} /metrics HTTP/1.1\r\nHost: x\r\n${extra}${close ? 'Connection: close\r\n' : ''}\r\n`

for (const method of ['GET', 'HEAD']) {
  t.test(`${method}: requests pipelined over TLS, one record each, one packet, are all answered (and share a rendering)`, { timeout: 30_000 }, async (t) => {
    const { app, collections, clientErrors } = await httpsApp(t)
    const { tls, raw, hold, release } = await heldTls(t, (app.server.address() as { port: number }).port)
    let text = ''
    tls.setEncoding('latin1').on('data', (chunk: string) => { text += chunk })
    // Prometheus' keep-alive connection: one scrape first, so the next ones count as "the same connection".
    tls.write(get())
    await firstAnswer(() => text)
    const count = 100
    hold()
    for (let index = 0; index < count; index++) await new Promise((resolve) => tls.write(get(method, index === count - 1), resolve))
    const before = collections()
    release()
    await new Promise((resolve) => raw.once('close', resolve))
    const statuses = text.match(/^HTTP\/1\.1 \d+/mg) ?? []
    t.equal(clientErrors.length, 0, `no request is refused as a parse error (${clientErrors.length}: ${[...new Set(clientErrors)].join(', ')})`)
    t.equal(statuses.filter((status) => status === 'HTTP/1.1 200').length, count + 1, `every pipelined request answered 200 (got ${statuses.length - 1} answers to ${count})`)
    t.ok(collections() - before <= 2, `${count} scrapes read in one packet, ${collections() - before} renderings`)
  })
}

t.test('the standalone server (web config: TLS and basic auth) answers every request pipelined in its own TLS record', { timeout: 30_000 }, async (t) => {
  const certs = makeCerts()
  t.teardown(certs.cleanup)
  const dir = t.testdir({
    'web.yml': `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync('secret', 4)}\n`
  })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', runners: [{ name: 'r', token: 'glrt-x' }] }, webConfigFile: join(dir, 'web.yml') })
  t.teardown(() => server.close())
  const auth = `Authorization: Basic ${Buffer.from('prometheus:secret').toString('base64')}\r\n`
  const { tls, raw, hold, release } = await heldTls(t, server.address()!.port)
  let text = ''
  tls.setEncoding('latin1').on('data', (chunk: string) => { text += chunk })
  tls.write(get('GET', false, auth))
  await firstAnswer(() => text)
  const count = 50
  hold()
  for (let index = 0; index < count; index++) await new Promise((resolve) => tls.write(get('GET', index === count - 1, auth), resolve))
  release()
  await new Promise((resolve) => raw.once('close', resolve))
  const statuses = text.match(/^HTTP\/1\.1 \d+/mg) ?? []
  t.equal(statuses.filter((status) => status === 'HTTP/1.1 200').length, count + 1, `every pipelined request answered 200 (got ${statuses.length - 1} answers to ${count})`)
})

// Company's "pipelined in the same synchronous run" flag is reset by a microtask. A host app
// whose onRequest hook yields to the event loop at all (an fs call, a timer, a session or token
// lookup: anything but a bare resolved promise) hands each request to the route in its own
// callback, with a microtask checkpoint between them. Every request of a pipelined packet on
// Prometheus' connection is then "the next scrape on the same connection, alone": each is
// rendered on the spot, in the same phase of the same turn. Before 6f8337f they all waited for the
// check phase and shared one rendering. A hostile client on a keep-alive connection multiplies
// one packet into thousands of renderings, holding the host's event loop for seconds.

const hooks: Record<string, () => Promise<unknown>> = {
  'an fs call': async () => await stat(import.meta.dirname),
  'a timer': async () => await sleep(1)
}

for (const [name, hook] of Object.entries(hooks)) {
  t.test(`with an onRequest hook awaiting ${name}, requests pipelined in one packet share one rendering`, { timeout: 60_000 }, async (t) => {
    // Turns of the event loop, counted at each check phase: the hook notes those in which it lets requests through.
    let turn = 0
    let counting = true
    const count = (): void => { turn++; if (counting) setImmediate(count) }
    const reached = new Set<number>()
    const app = Fastify()
    app.addHook('onRequest', async () => { await hook(); reached.add(turn) })
    await app.register(runnerMetrics)
    await app.listen({ host: '127.0.0.1', port: 0 })
    t.teardown(() => app.close())
    let collections = 0
    registerFamily(app.runnerRegistry, { name: 'counted', help: 'Collections.', type: 'gauge', read: () => { collections++; return [] } })
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket = netConnect((app.server.address() as { port: number }).port, '127.0.0.1', () => resolve(socket)).on('error', reject)
    })
    t.teardown(() => socket.destroy())
    let text = ''
    socket.setEncoding('latin1').on('data', (chunk: string) => { text += chunk })
    // Prometheus' keep-alive connection, scraped once already.
    socket.write(get())
    await firstAnswer(() => text)
    const requests = 1000
    const before = collections
    reached.clear()
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    count()
    socket.write(Array.from({ length: requests }, (_, index) => get('GET', index === requests - 1)).join(''))
    await new Promise((resolve) => socket.once('close', resolve))
    counting = false
    delay.disable()
    t.equal((text.match(/^HTTP\/1\.1 200/mg) ?? []).length, requests + 1, 'every one answered')
    // The hook's I/O may finish over a few turns (its thread pool, a busy machine): each such turn
    // costs at most one rendering at once and one shared.
    t.ok(collections - before <= 2 * reached.size, `${requests} scrapes in one packet reaching the route in ${reached.size} turns, ${collections - before} renderings`)
    t.comment(`longest event-loop stall: ${Math.round(delay.max / 1e6)} ms`)
  })
}

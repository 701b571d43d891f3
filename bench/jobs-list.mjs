// What /debug/jobs/list costs the event loop (issue 23). A benchmark, not a test.
// usage: node bench/jobs-list.mjs [MODULE]    (MODULE: the plugin to load; default this package's dist/)
//
// An app with 10,000 live builds (the most the list shows) on 127.0.0.1, read over real
// sockets in this process: the client only counts bytes. For each shape of build (typical ids
// and urls; hostile ones, every field full of characters to escape):
//   - one request, text and JSON: its longest event-loop block and its size;
//   - 20 requests at once on 20 connections, half text, half JSON, and a /metrics scrape sent
//     with them: the longest block, when the last list answer and the scrape's answer arrived.
// Blocks are the longest gap between turns of a setImmediate ticker.
import { connect } from 'node:net'
import Fastify from 'fastify'

const plugin = (await import(process.argv[2] ?? 'fastify-runner-metrics')).default
const LIVE = 10_000
const RUNNERS = 50

const shapes = {
  typical: (id) => ({ id: 4_000_000 + id, runner: `docker-autoscaler-${id % RUNNERS}`, url: `https://gitlab.example.com/group/subgroup/project-${id % 300}/-/jobs/${4_000_000 + id}` }),
  // Every field 255 of one character to escape, the most a field is listed with: U+009B (CSI)
  // is the most escapes per byte of output in JSON (\u009b), `"` in the text (\").
  'hostile, C1': (id) => ({ id: `${id}${'\u009b'.repeat(255)}`, runner: `${id % RUNNERS}${'\u009b'.repeat(255)}`, url: `${'\u009b'.repeat(252)}${id % 1000}` }),
  'hostile, quotes': (id) => ({ id: `${id}${'"'.repeat(255)}`, runner: `${id % RUNNERS}${'"'.repeat(255)}`, url: `${'"'.repeat(252)}${id % 1000}` })
}

/** The longest gap between two turns of the event loop while `work` runs. */
async function longestBlock (work) {
  let last = performance.now()
  let longest = 0
  let ticking = true
  const tick = () => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)
  const result = await work()
  ticking = false
  await new Promise((resolve) => setImmediate(resolve))
  return { longest, result }
}

/** A connection that resolves each request's answer, read as bytes, once its Content-Length is in. */
async function connection (port) {
  const socket = await new Promise((resolve, reject) => { const s = connect(port, '127.0.0.1', () => resolve(s)).on('error', reject) })
  // One request at a time on a connection: its head, then Content-Length bytes, counted, not kept.
  let head = ''
  let remaining = -1
  let waiting
  socket.on('data', (chunk) => {
    let body = chunk
    if (remaining === -1) {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      remaining = Number(/content-length: (\d+)/i.exec(head.slice(0, end))[1])
      body = chunk.subarray(chunk.length - (head.length - end - 4))
      head = ''
      size = remaining
    }
    remaining -= body.length
    if (remaining === 0) {
      remaining = -1
      waiting({ size, at: performance.now() })
    }
  })
  let size = 0
  return {
    socket,
    request: (path, accept) => new Promise((resolve) => {
      waiting = resolve
      socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n${accept === undefined ? '' : `accept: ${accept}\r\n`}\r\n`)
    })
  }
}

const rows = []
for (const [shape, make] of Object.entries(shapes)) {
  const app = Fastify()
  await app.register(plugin, { jobsList: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const accepted = { count: 0 }
  app.server.on('connection', () => { accepted.count++ })
  for (let id = 0; id < LIVE; id++) app.builds.start(make(id))
  const { port } = app.server.address()
  const connections = await Promise.all(Array.from({ length: 21 }, () => connection(port)))
  // Connected is not accepted: the server takes connections over a few turns.
  while (accepted.count < 21) await new Promise((resolve) => setImmediate(resolve))
  const [first, ...others] = connections
  // Warm both renderings once.
  await first.request('/debug/jobs/list')
  await first.request('/debug/jobs/list', 'application/json')

  for (const [format, accept] of [['text', undefined], ['json', 'application/json']]) {
    const blocks = []
    let size = 0
    for (let round = 0; round < 5; round++) {
      const { longest, result } = await longestBlock(() => first.request('/debug/jobs/list', accept))
      blocks.push(longest)
      size = result.size
    }
    rows.push(`| ${shape} | one ${format} request | ${median(blocks).toFixed(1)} ms | ${(size / 1e6).toFixed(2)} MB |`)
  }

  const rounds = []
  for (let round = 0; round < 5; round++) {
    const { longest, result } = await longestBlock(async () => {
      const started = performance.now()
      const answers = others.map((c, index) => c.request('/debug/jobs/list', index % 2 === 0 ? undefined : 'application/json'))
      const scrape = first.request('/metrics')
      const done = await Promise.all(answers)
      const scraped = await scrape
      return { lists: Math.max(...done.map((d) => d.at)) - started, scrape: scraped.at - started }
    })
    rounds.push({ longest, ...result })
  }
  const med = (key) => median(rounds.map((r) => r[key])).toFixed(1)
  rows.push(`| ${shape} | 20 at once (10 text, 10 JSON) and a /metrics scrape | ${med('longest')} ms | last list answer ${med('lists')} ms, the scrape's answer ${med('scrape')} ms |`)
  for (const c of connections) c.socket.destroy()
  await app.close()
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

console.log(`${LIVE} live builds, ${RUNNERS} runners, Node ${process.version}; medians of 5 rounds`)
console.log('| builds | requests | longest event-loop block | |')
console.log('|---|---|---|---|')
for (const row of rows) console.log(row)

// What the suggested lib/ changes would buy, measured before making them: row 1 of run.mjs at
// 10 connections for (a) as it is, (a) with changes applied from outside
// (servers/plugin-what-if.mjs), and the alternatives. A diagnostic, not part of run.mjs' table.
//
//   node bench/what-if.mjs [SECONDS] [ROUNDS]
import autocannon from 'autocannon'
import { forkChild, median } from './common.mjs'

const [seconds = 3, rounds = 3] = process.argv.slice(2).map(Number)
const TARGETS = [
  { label: '(a) this plugin, as built', script: 'servers/plugin.mjs' },
  { label: '(a) + lag', script: 'servers/plugin-what-if.mjs', args: ['lag'] },
  { label: '(a) + lag + render', script: 'servers/plugin-what-if.mjs', args: ['lag,render'] },
  { label: '(a) without default metrics', script: 'servers/plugin-what-if.mjs', args: ['nodefault'] },
  { label: '(b) fastify-metrics', script: 'servers/fastify-metrics.mjs' },
  { label: '(c) prom-client on node:http', script: 'servers/prom-client.mjs' }
]

function cpu (child) {
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message?.type !== 'cpu') return
      child.off('message', onMessage)
      resolve(message.usage.user + message.usage.system)
    }
    child.on('message', onMessage)
    child.send({ type: 'cpu' })
  })
}

const servers = []
try {
  for (const target of TARGETS) {
    const { child, message } = await forkChild(target.script, { args: target.args ?? [], until: 'ready', keep: true })
    servers.push({ ...target, child, url: `http://127.0.0.1:${message.port}/metrics`, runs: [] })
  }
  for (const server of servers) {
    await autocannon({ url: server.url, connections: 10, duration: 1 })
    const body = await (await fetch(server.url, { headers: { 'accept-encoding': 'identity' } })).text()
    server.bytes = Buffer.byteLength(body)
  }
  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      const before = await cpu(server.child)
      const result = await autocannon({ url: server.url, connections: 10, duration: seconds })
      const micros = await cpu(server.child) - before
      server.runs.push({ rps: result.requests.total / result.duration, cpu: micros / result.requests.total })
      process.stderr.write(`[what-if] round ${round + 1}/${rounds} ${server.label}\n`)
    }
  }
  const rps = (server) => median(server.runs.map((run) => run.rps))
  const [fm, pc] = [servers[4], servers[5]].map(rps)
  console.log(`| target (10 connections, ${rounds} x ${seconds} s, medians) | body bytes | scrapes/s | server CPU µs per scrape | ÷ (b) | ÷ (c) |`)
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const server of servers) {
    const value = rps(server)
    console.log(`| ${server.label} | ${server.bytes} | ${value.toFixed(0)} | ${median(server.runs.map((run) => run.cpu)).toFixed(0)} | ${(value / fm).toFixed(2)}x | ${(value / pc).toFixed(2)}x |`)
  }
} finally {
  for (const server of servers) server.child.kill()
}

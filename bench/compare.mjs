// A/B of scrape targets at one connection, as Prometheus scrapes: short rounds alternating the
// targets, and each target's CPU per scrape and scrapes/s against the first target's in the same
// round (paired), so that drift in the machine's speed cancels out. A diagnostic for sizing a
// change before making it, not part of run.mjs' table.
//
//   node bench/compare.mjs SECONDS ROUNDS 'SERVER [ARGS]' 'SERVER [ARGS]' ...
//   e.g. cp -r dist /tmp/before (then change lib/, build), and
//   node bench/compare.mjs 2 10 "servers/plugin-at.mjs /tmp/before/index.js" servers/plugin.mjs servers/prom-client.mjs
import autocannon from 'autocannon'
import { forkChild, median } from './common.mjs'

const [seconds, rounds, ...specs] = process.argv.slice(2)
if (!(Number(seconds) > 0) || !(Number(rounds) > 0) || specs.length === 0) {
  process.stderr.write('usage: node bench/compare.mjs SECONDS ROUNDS \'SERVER [ARGS]\' ...\n')
  process.exit(2)
}

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
  for (const spec of specs) {
    const [script, ...args] = spec.split(' ')
    const { child, message } = await forkChild(script, { args, until: 'ready', keep: true })
    servers.push({ label: spec, child, url: `http://127.0.0.1:${message.port}/metrics`, runs: [] })
  }
  for (const server of servers) await autocannon({ url: server.url, connections: 1, duration: 2 })
  for (let round = 0; round < Number(rounds); round++) {
    for (const server of servers) {
      const before = await cpu(server.child)
      const result = await autocannon({ url: server.url, connections: 1, duration: Number(seconds) })
      server.runs.push({ rps: result.requests.total / result.duration, cpu: (await cpu(server.child) - before) / result.requests.total })
    }
    process.stderr.write(`[compare] round ${round + 1}/${rounds}\n`)
  }
  const [base] = servers
  console.log(`| target (1 connection, ${rounds} x ${seconds} s, medians) | scrapes/s | server CPU µs per scrape | CPU − first's, paired | scrapes/s ÷ first's, paired |`)
  console.log('| --- | --- | --- | --- | --- |')
  for (const server of servers) {
    const paired = (value) => median(server.runs.map((run, index) => value(run, base.runs[index])))
    console.log(`| ${server.label} | ${median(server.runs.map((run) => run.rps)).toFixed(0)} | ${median(server.runs.map((run) => run.cpu)).toFixed(0)} | ${paired((run, first) => run.cpu - first.cpu).toFixed(0)} | ${paired((run, first) => run.rps / first.rps).toFixed(3)} |`)
  }
} finally {
  for (const server of servers) server.child.kill()
}

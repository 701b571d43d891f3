import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { get } from 'node:http'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import bcrypt from 'bcryptjs'
import t from 'tap'
import { startMetricsServer } from '../lib/server/index.js'

// Issue 12 item 2: bad credentials must not starve good ones, nor stall the host's event loop.
const FLOOD = fileURLToPath(new URL('./fixtures/auth-flood.mjs', import.meta.url))
const CONNECTIONS = 50
const SECONDS = 4
// Cost 10, as exporter-toolkit's docs and most htpasswd users make them: ~75 ms per comparison here.
const PROMETHEUS = bcrypt.hashSync('right', 10)
const LATE = bcrypt.hashSync('late-right', 10)
const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const auth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** Status and milliseconds taken by one GET, from `localAddress` (loopback addresses are many). */
async function timedGet (url: string, authorization: string, localAddress = '127.0.0.1'): Promise<{ status: number, ms: number }> {
  const start = performance.now()
  return await new Promise((resolve, reject) => {
    get(url, { agent: false, localAddress, headers: { authorization } }, (response) => {
      response.resume()
      response.on('end', () => resolve({ status: response.statusCode!, ms: performance.now() - start }))
    }).on('error', reject)
  })
}

t.test('a flood of wrong passwords and unknown users: good scrapes stay fast, the event loop free', { timeout: 120_000 }, async (t) => {
  const dir = t.testdir({ 'web.yml': `basic_auth_users:\n  prometheus: ${PROMETHEUS}\n  late: ${LATE}\n` })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: join(dir, 'web.yml') })
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${server.address()!.port}/metrics`
  // Prometheus has scraped before: its credentials are known good (and the worker is started,
  // so its start, seconds under the tests' TypeScript loader, is not measured as flood).
  t.equal((await timedGet(url, auth('prometheus', 'right'))).status, 200)
  t.equal((await timedGet(url, auth('warm-up', 'wrong'))).status, 401)

  const flood = spawn(process.execPath, [FLOOD, url, String(CONNECTIONS), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { flood.kill('SIGKILL') })
  let output = ''
  flood.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = once(flood, 'exit')
  while (!output.includes('flooding')) await once(flood.stdout, 'data')

  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const scrapes: Array<{ status: number, ms: number }> = []
  let late: { status: number, ms: number } | undefined
  while (flood.exitCode === null) {
    scrapes.push(await timedGet(url, auth('prometheus', 'right')))
    // Credentials never seen before, from another address, checked in the middle of the flood.
    if (late === undefined && scrapes.length === 4) late = await timedGet(url, auth('late', 'late-right'), '127.0.0.2')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  delay.disable()
  await exited
  const statuses = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number>
  t.comment(`flood answers ${JSON.stringify(statuses)}; ${scrapes.length} good scrapes, median ${median(scrapes.map((scrape) => scrape.ms)).toFixed(0)} ms, slowest ${Math.max(...scrapes.map((scrape) => scrape.ms)).toFixed(0)} ms; new credentials ${late?.ms.toFixed(0)} ms; event loop delay max ${(delay.max / 1e6).toFixed(0)} ms`)

  t.ok((statuses['401'] ?? 0) + (statuses['429'] ?? 0) >= 50, 'the flood was refused, many times')
  t.notOk(Object.keys(statuses).some((status) => status !== '401' && status !== '429'), 'nothing but 401 and 429 for it')
  t.ok(scrapes.length >= 3, 'good scrapes ran all through the flood')
  t.ok(scrapes.every((scrape) => scrape.status === 200), 'every good scrape answered 200')
  // Generous bounds for a busy shared machine (typical here: 20-80 ms median scrapes, 100-300 ms
  // of event-loop delay, the worst scrape up to 2 s with the whole suite running beside it);
  // before the fix: 13 s and 2.4 s, and only 2 scrapes got through in the whole flood.
  t.ok(scrapes.every((scrape) => scrape.ms < 5000), 'no good scrape waited behind the flood')
  t.equal(late?.status, 200, 'new good credentials pass during the flood')
  t.ok((late?.ms ?? Infinity) < 5000, 'after a few comparisons, not behind the whole flood')
  t.ok(delay.max / 1e6 < 1500, 'the event loop never stalled')
})

// Issue 23: wrong credentials from 64 or more addresses kept the comparison queue full, and a
// right credential never seen before was answered 429 at once, on every try, while they came.
t.test('a flood from 100 addresses: never-seen right credentials, of the flooded user and another, get through', { timeout: 120_000 }, async (t) => {
  const dir = t.testdir({ 'web.yml': `basic_auth_users:\n  prometheus: ${PROMETHEUS}\n  late: ${LATE}\n` })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: join(dir, 'web.yml') })
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${server.address()!.port}/metrics`
  // Starts the worker and times the stand-in; nobody has logged in.
  t.equal((await timedGet(url, auth('warm-up', 'wrong'))).status, 401)

  const flood = spawn(process.execPath, [FLOOD, url, '400', String(SECONDS + 2), '100'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { flood.kill('SIGKILL') })
  let output = ''
  flood.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = once(flood, 'exit')
  while (!output.includes('flooding')) await once(flood.stdout, 'data')
  // Until the flood has filled a queue.
  while (!output.includes('refused')) await once(flood.stdout, 'data')
  const flooded = await timedGet(url, auth('prometheus', 'right'), '127.0.0.2')
  const other = await timedGet(url, auth('late', 'late-right'), '127.0.0.3')
  const stillRunning = flood.exitCode === null
  await exited
  const statuses = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number>
  t.comment(`flood answers ${JSON.stringify(statuses)}; the flooded user's first login ${flooded.ms.toFixed(0)} ms, another user's ${other.ms.toFixed(0)} ms`)
  t.ok(stillRunning, 'both were checked while the flood ran')
  t.ok((statuses['401'] ?? 0) + (statuses['429'] ?? 0) >= 100, 'the flood was refused, many times')
  t.equal(flooded.status, 200, 'the flooded user\'s right password, never seen, from an address that did not flood')
  t.equal(other.status, 200, 'another user\'s, never seen')
  // Two comparisons: 0.2-0.8 s here, beside two CPU hogs too; 5 s once with the whole suite
  // beside it at load 9. Generous, for a busy machine: the status above is what failed before.
  t.ok(flooded.ms < 15_000 && other.ms < 15_000, 'within seconds')
})

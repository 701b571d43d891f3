import { get } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { startMetricsServer } from '../lib/server/index.js'
import { TokenBucket } from '../lib/server/rate-limit.js'

async function status (url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, body }))
    }).on('error', reject)
  })
}

t.test('a token bucket as golang.org/x/time/rate: full at start, one token per interval, never more than burst', async (t) => {
  let now = 1000
  const bucket = new TokenBucket({ intervalMs: 1000, burst: 3 }, () => now)
  t.same([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false], 'the burst, then no more')
  now += 999
  t.equal(bucket.take(), false, 'not a whole token yet')
  now += 1
  t.equal(bucket.take(), true, 'one interval: one token')
  t.equal(bucket.take(), false)
  now += 60_000
  t.same([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false], 'a long pause refills to burst, not beyond')
})

t.test('by default it reads the monotonic clock', async (t) => {
  const bucket = new TokenBucket({ intervalMs: 3_600_000, burst: 1 })
  t.equal(bucket.take(), true)
  t.equal(bucket.take(), false)
})

t.test('rate_limit in the web config: over all requests and endpoints, 429 past the burst; a reload can lift it', { timeout: 60_000 }, async (t) => {
  const dir = t.testdir({ 'web.yml': 'rate_limit:\n  interval: 1h\n  burst: 2\n', 'open.yml': '{}\n' })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', web_config_file: join(dir, 'web.yml') } })
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${server.address()!.port}`
  t.equal((await status(`${base}/metrics`)).status, 200)
  t.equal((await status(`${base}/-/healthy`)).status, 200)
  t.same(await status(`${base}/metrics`), { status: 429, body: 'Too Many Requests\n' })
  t.equal((await status(`${base}/nowhere`)).status, 429, 'every path counts')
  t.same(await server.reload({ metrics_server: `127.0.0.1:${server.address()!.port}`, web_config_file: join(dir, 'open.yml') }), { ok: true })
  t.equal((await status(`${base}/metrics`)).status, 200)
})

import { connect, type Socket } from 'node:net'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import runnerMetrics, { type RunnerMetricsOptions } from '../lib/index.js'
import { until } from './helpers.js'

// The README's "metrics route behind a token".
const TOKEN = 's3cret'
const tokenCheck = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
  if (request.headers.authorization !== `Bearer ${TOKEN}`) await reply.code(401).send()
}
const withToken = { authorization: `Bearer ${TOKEN}` }

async function listening (t: Test, options: RunnerMetricsOptions): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(runnerMetrics, { defaultMetrics: false, ...options })
  await app.ready()
  app.builds.start({ id: '1042', runner: 'docker-1', url: 'https://gitlab.example.com/g/p/-/jobs/1042' })
  return app
}

t.test('jobsList: true behind the README\'s token: the list asks for the token as /metrics does', async (t) => {
  const app = await listening(t, { endpoint: { url: '/metrics', onRequest: tokenCheck }, jobsList: true })
  t.equal((await app.inject('/metrics')).statusCode, 401)
  const anyone = await app.inject('/debug/jobs/list')
  t.equal(anyone.statusCode, 401, 'no token, no list')
  t.notMatch(anyone.body, /1042|docker-1/, 'no job url or runner name')
  t.equal((await app.inject({ url: '/debug/jobs/list', headers: { ...withToken, accept: 'application/json' } })).json().builds[0].id, '1042')
  t.match((await app.inject({ url: '/debug/jobs/list', headers: withToken })).body, /^id=1042 url=https:\/\/gitlab\.example\.com\/g\/p\/-\/jobs\/1042 runner=docker-1 /)
  t.equal((await app.inject({ method: 'HEAD', url: '/debug/jobs/list' })).statusCode, 401, 'HEAD too')
  t.equal((await app.inject({ method: 'POST', url: '/debug/jobs/list' })).statusCode, 401, 'the auth check answers before the 405')
  t.equal((await app.inject({ method: 'POST', url: '/debug/jobs/list', headers: withToken })).statusCode, 405)
})

t.test('a path inherits the same: every hook before the handler, the route config and constraints; not onSend or logLevel', async (t) => {
  const seen: string[] = []
  const hook = (name: string) => async (request: FastifyRequest): Promise<void> => { seen.push(`${name} ${request.url} ${(request.routeOptions.config as { tag?: string }).tag}`) }
  const app = await listening(t, {
    endpoint: {
      onRequest: [hook('onRequest')],
      preParsing: hook('preParsing'),
      preValidation: hook('preValidation'),
      preHandler: hook('preHandler'),
      onSend: async (request, reply, payload) => { reply.header('x-metrics-only', '1'); return payload },
      config: { tag: 'guarded' },
      constraints: { host: 'metrics.internal' },
      logLevel: 'silent'
    },
    jobsList: '/jobs'
  })
  const answer = await app.inject({ url: '/jobs', headers: { host: 'metrics.internal' } })
  t.equal(answer.statusCode, 200)
  t.same(seen, ['onRequest', 'preParsing', 'preValidation', 'preHandler'].map((name) => `${name} /jobs guarded`))
  t.equal(answer.headers['x-metrics-only'], undefined, 'onSend is the metrics route\'s own')
  t.equal((await app.inject({ url: '/jobs', headers: { host: 'elsewhere' } })).statusCode, 404, 'only on the metrics route\'s host')
  t.equal((await app.inject({ method: 'DELETE', url: '/jobs', headers: { host: 'elsewhere' } })).statusCode, 404, 'its 405 route too')
  seen.length = 0
  t.equal((await app.inject({ method: 'DELETE', url: '/jobs', headers: { host: 'metrics.internal' } })).statusCode, 405)
  t.same(seen, ['onRequest', 'preParsing', 'preValidation', 'preHandler'].map((name) => `${name} /jobs guarded`), 'the 405 runs the hooks first')
})

t.test('jobsList as route options: its own, nothing inherited', async (t) => {
  const own: string[] = []
  const app = await listening(t, {
    endpoint: { url: '/metrics', onRequest: tokenCheck },
    jobsList: { url: '/ops/jobs', onRequest: async (request) => { own.push(request.method) } }
  })
  t.equal((await app.inject('/ops/jobs')).statusCode, 200, 'its own hook lets anyone in: the host chose so')
  t.equal((await app.inject({ method: 'POST', url: '/ops/jobs' })).statusCode, 405)
  t.same(own, ['GET', 'POST'])
  t.equal((await app.inject('/metrics')).statusCode, 401)

  const defaults = await listening(t, { endpoint: { onRequest: tokenCheck }, jobsList: { logLevel: 'warn' } })
  t.equal((await defaults.inject('/debug/jobs/list')).statusCode, 200, 'url defaults to /debug/jobs/list')
})

t.test('endpoint: false leaves nothing to inherit: the list is the host\'s to protect', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRequest', tokenCheck)
  await app.register(runnerMetrics, { defaultMetrics: false, endpoint: false, jobsList: true })
  t.equal((await app.inject('/debug/jobs/list')).statusCode, 401)
  t.equal((await app.inject({ url: '/debug/jobs/list', headers: withToken })).statusCode, 200)
})

t.test('jobsList route options are checked as endpoint\'s are', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [7, /option "jobsList" must be a path starting with "\/", true, false, or route options \(\{ url, onRequest, logLevel, schema, \.\.\. \}\), got 7/],
    ['jobs', /option "jobsList" must be a path starting with "\/", true, false, or route options, got "jobs"/],
    [null, /option "jobsList" must be a path .*, got null/],
    [{ url: 'jobs' }, /option "jobsList\.url" must be a path starting with "\/", got "jobs"/],
    [{ method: 'POST' }, /option "jobsList" sets "method", which the plugin sets itself/],
    [{ handler: () => 'mine' }, /option "jobsList" sets "handler", which the plugin sets itself/],
    [{ url: '/metrics' }, /option "jobsList" is the path of "endpoint" \("\/metrics"\)/]
  ]
  for (const [jobsList, message] of cases) {
    const app = Fastify()
    const error = await app.register(runnerMetrics, { jobsList } as never).ready().then(() => undefined, (error: unknown) => error)
    t.ok(error instanceof TypeError, String(message))
    t.match(error, { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message })
  }
})

/** Answers read from `socket`, each as its status line, headers and body. */
function answersOf (socket: Socket): () => Array<{ head: string, body: string }> {
  let text = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  return () => {
    const answers: Array<{ head: string, body: string }> = []
    let rest = text
    for (;;) {
      const end = rest.indexOf('\r\n\r\n')
      if (end === -1) return answers
      const head = rest.slice(0, end)
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1])
      const body = Buffer.from(rest.slice(end + 4))
      if (body.length < length) return answers
      answers.push({ head, body: body.subarray(0, length).toString() })
      rest = body.subarray(length).toString()
    }
  }
}

t.test('20 list requests arriving together over real sockets share one rendering', { timeout: 60_000 }, async (t) => {
  // Turns of the event loop, counted at each check phase; the route notes those in which requests reach it.
  let turn = 0
  let counting = true
  const count = (): void => { turn++; if (counting) setImmediate(count) }
  t.teardown(() => { counting = false })
  const reached = new Set<number>()
  const app = Fastify()
  app.addHook('preHandler', async () => { reached.add(turn) })
  await app.register(runnerMetrics, { defaultMetrics: false, jobsList: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  for (let id = 0; id < 5000; id++) app.builds.start({ id, runner: `runner-${id % 50}` })
  let renderings = 0
  const liveBuilds = app.builds.liveBuilds.bind(app.builds)
  app.builds.liveBuilds = () => { renderings++; return liveBuilds() }

  const { port } = app.server.address() as { port: number }
  let accepted = 0
  app.server.on('connection', () => { accepted++ })
  const sockets = await Promise.all(Array.from({ length: 20 }, async () => await new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket)).on('error', reject)
    t.teardown(() => socket.destroy())
  })))
  // Connected is not accepted: the server takes them over a few turns, and reads each from the next.
  await until(() => accepted === 20)
  const answers = sockets.map(answersOf)
  count()
  sockets.forEach((socket, index) => socket.write(`GET /debug/jobs/list HTTP/1.1\r\nhost: x\r\n${index % 2 === 0 ? '' : 'accept: application/json\r\n'}\r\n`))
  await until(() => answers.every((answer) => answer().length === 1))
  const texts = new Set(answers.filter((_, index) => index % 2 === 0).map((answer) => answer()[0]!.body))
  const jsons = new Set(answers.filter((_, index) => index % 2 === 1).map((answer) => answer()[0]!.body))
  t.equal(texts.size, 1, 'the same text for all')
  t.equal([...texts][0]!.split('\n').length, 5001, 'every build listed')
  t.equal(jsons.size, 1, 'the same JSON for all')
  t.equal(JSON.parse([...jsons][0]!).builds.length, 5000)
  // Read in one poll phase they reach the route in one turn: two renderings, one text and one
  // JSON. A busy machine may spread them over a few turns: at most one of each per turn.
  t.ok(renderings <= 2 * reached.size, `20 requests reaching the route in ${reached.size} turns, ${renderings} renderings`)
})

t.test('the list is bounded: at most 10,000 builds, oldest first, the rest counted; each field cut', async (t) => {
  const app = await listening(t, { jobsList: true })
  for (let id = 1; id <= 10_004; id++) app.builds.start({ id: `b${id}`, runner: 'docker-1' })
  const text = await app.inject('/debug/jobs/list')
  t.equal(text.headers['x-builds-total'], '10005')
  const lines = text.body.split('\n')
  t.equal(lines.pop(), '', 'ends with a newline')
  t.equal(lines.length, 10_001, '10,000 builds and one line saying what is left out')
  t.match(lines[0], /^id=1042 /, 'oldest first')
  t.match(lines[9999], /^id=b9999 /)
  t.equal(lines[10_000], '# 5 more builds not listed: 10005 live, the oldest 10000 listed')
  t.notMatch(lines[10_000], /=/, 'no key=value a parser could take for a build')

  const json = await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })
  t.equal(json.headers['x-builds-total'], '10005')
  const { builds, builds_total: total } = json.json()
  t.equal(builds.length, 10_000)
  t.equal(total, 10_005)
  t.equal(builds[9999].id, 'b9999')
})

t.test('ids and urls are cut at 256 characters in the list, marked with … (runner names are at most 256 long)', async (t) => {
  const { BuildTracker } = await import('../lib/index.js')
  const app = await listening(t, { jobsList: true, tracker: new BuildTracker({ now: () => 1 }) })
  app.builds.start({ id: 'i'.repeat(100_000), runner: 'r'.repeat(256), url: `https://x/${'u'.repeat(100_000)}` })
  app.builds.start({ id: '\u202e'.repeat(100_000), runner: 'ok' })
  app.builds.start({ id: `${'a'.repeat(255)}😀`, runner: 'ok' })
  const lines = (await app.inject('/debug/jobs/list')).body.split('\n')
  t.equal(lines[1], `id=${'i'.repeat(256)}… url=https://x/${'u'.repeat(246)}… runner=${'r'.repeat(256)} state=pending stage=none duration=0.000s`)
  t.equal(lines[2], `id="${String.raw`\u{202e}`.repeat(256)}…" runner=ok state=pending stage=none duration=0.000s`, 'cut before it is escaped: 2 kB at most')
  t.equal(lines[3], `id=${'a'.repeat(255)}… runner=ok state=pending stage=none duration=0.000s`, 'not half of a surrogate pair')
  const { builds } = (await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })).json()
  t.same(builds[1], { id: `${'i'.repeat(256)}…`, url: `https://x/${'u'.repeat(246)}…`, runner: 'r'.repeat(256), state: 'pending', stage: 'none', duration_seconds: 0, stage_duration_seconds: 0 })
})

t.test('an empty list: no lines, builds_total 0', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(runnerMetrics, { defaultMetrics: false, jobsList: true })
  const text = await app.inject('/debug/jobs/list')
  t.equal(text.body, '')
  t.equal(text.headers['x-builds-total'], '0')
  t.same((await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })).json(), { builds: [], builds_total: 0 })
})

t.test('builds whose every field needs escapes are listed up to 4 MiB, the rest counted', async (t) => {
  const { MAX_BYTES } = await import('../lib/plugin/jobs-list.js')
  const app = await listening(t, { jobsList: true })
  // Each line about 6 kB: 10,000 of them would be 60 MB.
  for (let id = 0; id < 2000; id++) app.builds.start({ id: `${id}${'\u202e'.repeat(255)}`, runner: `r${'\u009b'.repeat(255)}`, url: '"'.repeat(256) })
  const text = await app.inject('/debug/jobs/list')
  t.equal(text.headers['x-builds-total'], '2001')
  t.ok(text.rawPayload.length <= MAX_BYTES + 100, `${text.rawPayload.length} bytes`)
  const lines = text.body.split('\n')
  t.equal(lines.pop(), '')
  const listed = lines.length - 1
  t.ok(listed > 500 && listed < 2001, `${listed} listed`)
  t.equal(lines.at(-1), `# ${2001 - listed} more builds not listed: 2001 live, the oldest ${listed} listed`)
  const json = await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })
  t.ok(json.rawPayload.length <= MAX_BYTES + 10_100, `${json.rawPayload.length} bytes`)
  const { builds, builds_total: total } = json.json()
  t.equal(total, 2001)
  t.ok(builds.length > 500 && builds.length < 2001, `${builds.length} listed`)
})

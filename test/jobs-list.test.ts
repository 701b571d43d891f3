import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import runnerMetrics, { type RunnerMetricsOptions } from '../lib/index.js'

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

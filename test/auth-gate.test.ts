import bcrypt from 'bcryptjs'
import Fastify, { type FastifyInstance, type LightMyRequest } from 'fastify'
import t, { type Test } from 'tap'
import { WebGate } from '../lib/server/auth-gate.js'
import type { Compare } from '../lib/server/auth-compare.js'
import { NO_WEB_CONFIG, type WebConfig } from '../lib/server/web-config.js'
import { until } from './helpers.js'

const HASH = bcrypt.hashSync('s3cret', 4)
const GOOD = `Basic ${Buffer.from('p:s3cret').toString('base64')}`
const web = (extra: Partial<WebConfig>): WebConfig => ({ ...NO_WEB_CONFIG, ...extra })

async function appWith (gate: WebGate, lines: string[] = []): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  app.addHook('onRequest', gate.onRequest)
  app.addHook('onSend', gate.onSend)
  app.get('/', async () => 'ok\n')
  await app.ready()
  return app
}

/** A comparer whose comparisons wait until the test settles them; after that, all answer so at once. */
function heldComparer (): { compare: Compare, settle: (outcome: boolean | Error) => void, closed: () => boolean, close: () => Promise<void> } {
  const waiting: Array<(outcome: boolean | Error) => void> = []
  let settled: boolean | Error | undefined
  let closed = false
  return {
    compare: async () => {
      const outcome = settled ?? await new Promise<boolean | Error>((resolve) => waiting.push(resolve))
      if (outcome instanceof Error) throw outcome
      return { matches: outcome, ms: 1 }
    },
    settle: (outcome) => {
      settled = outcome
      for (const resolve of waiting.splice(0)) resolve(outcome)
    },
    closed: () => closed,
    close: async () => { closed = true }
  }
}

t.test('headers on every answer; the rate limit before auth, as exporter-toolkit; a reload keeps the bucket', async (t) => {
  const gate = new WebGate()
  t.teardown(() => gate.close())
  const app = await appWith(gate)
  t.teardown(() => app.close())
  const config = web({ headers: { 'X-Frame-Options': 'deny' }, rateLimit: { intervalMs: 3_600_000, burst: 2 } })
  gate.use(config)
  t.equal((await app.inject('/')).statusCode, 200)
  t.equal((await app.inject('/')).statusCode, 200)
  const limited = await app.inject('/')
  t.equal(limited.statusCode, 429)
  t.equal(limited.body, 'Too Many Requests\n')
  t.equal(limited.headers['x-frame-options'], 'deny')
  gate.use({ ...config, headers: {} })
  t.equal((await app.inject('/')).statusCode, 429, 'the same limit after a reload: no fresh burst')
  gate.use(web({ rateLimit: { intervalMs: 3_600_000, burst: 1 } }))
  t.equal((await app.inject('/')).statusCode, 200, 'a new limit starts a new bucket')
  gate.use(web({ users: new Map([['p', HASH]]), rateLimit: { intervalMs: 3_600_000, burst: 1 } }))
  t.equal((await app.inject({ url: '/', headers: { authorization: GOOD } })).statusCode, 429, 'even good credentials wait for a token')
  gate.use(web({ users: new Map([['p', HASH]]) }))
  const denied = await app.inject('/')
  t.equal(denied.statusCode, 401)
  t.equal(denied.headers['www-authenticate'], 'Basic')
  t.equal((await app.inject({ url: '/', headers: { authorization: GOOD } })).statusCode, 200, 'checked in the worker')
})

t.test('too many checks waiting from one address: 429 at once; other addresses still get checked', async (t) => {
  const comparer = heldComparer()
  const gate = new WebGate(comparer)
  gate.use(web({ users: new Map([['p', HASH]]) }))
  const app = await appWith(gate)
  t.teardown(() => app.close())
  // inject() starts a request only when awaited: this starts each at once, in order.
  const guess = async (index: number, remoteAddress = '10.0.0.66'): Promise<LightMyRequest.Response> =>
    await app.inject({ url: '/', remoteAddress, headers: { authorization: `Basic ${Buffer.from(`p:guess${index}`).toString('base64')}` } })
  // One comparing, four waiting: the sixth is refused.
  const held = [0, 1, 2, 3, 4].map((index) => guess(index))
  const refused = await guess(5)
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '1')
  const other = guess(6, '10.0.0.9')
  comparer.settle(false)
  t.same((await Promise.all([...held, other])).map((answer) => answer.statusCode), [401, 401, 401, 401, 401, 401], 'all checked, all wrong')
})

/** A check whose comparison fails to run (`closing`: because the gate is being closed): its answer and the log. */
async function failedCheck (t: Test, closing: boolean): Promise<{ status: number, body: string, log: string, closed: boolean }> {
  const comparer = heldComparer()
  const gate = new WebGate(comparer)
  gate.use(web({ users: new Map([['p', HASH]]) }))
  const lines: string[] = []
  const app = await appWith(gate, lines)
  t.teardown(() => app.close())
  const answer = app.inject({ url: '/', headers: { authorization: GOOD } })
  await new Promise((resolve) => setImmediate(resolve))
  if (closing) await gate.close()
  comparer.settle(new Error('the bcrypt worker stopped (exit code 1)'))
  const { statusCode, body } = await answer
  if (!closing) await gate.close()
  return { status: statusCode, body, log: lines.join(''), closed: comparer.closed() }
}

t.test('a comparison that fails to run: a logged 500, never a throw into the host; close ends the comparer', async (t) => {
  const failed = await failedCheck(t, false)
  t.equal(failed.status, 500)
  t.equal(failed.body, 'Internal Server Error\n')
  t.match(failed.log, /basic auth could not check the credentials: the bcrypt worker stopped \(exit code 1\)/)
  t.notMatch(failed.log, /s3cret/)
  t.equal(failed.closed, true)
})

t.test('a check that fails because the gate is closing is answered 500 without an error logged', async (t) => {
  const failed = await failedCheck(t, true)
  t.equal(failed.status, 500)
  t.notMatch(failed.log, /could not check/)
})

// Issue 23: a reload that removes a user (or adds auth) applies to every answer sent after it
// reports ok, also to requests that passed the gate before it and are still being answered.
t.test('an answer sent after the web config changed is judged by the new one', async (t) => {
  const gate = new WebGate()
  t.teardown(() => gate.close())
  const app = Fastify()
  app.addHook('onRequest', gate.onRequest)
  app.addHook('onSend', gate.onSend)
  // Each request waits in the handler until the test has reloaded.
  const held: Array<() => void> = []
  app.get('/slow', async () => {
    await new Promise<void>((resolve) => held.push(resolve))
    return 'metrics\n'
  })
  await app.ready()
  t.teardown(() => app.close())

  gate.use(web({ users: new Map([['p', HASH], ['q', HASH]]) }))
  const removed = app.inject({ url: '/slow', headers: { authorization: GOOD } })
  await until(() => held.length === 1)
  gate.use(web({ users: new Map([['q', HASH]]) }))
  held.shift()!()
  const answer = await removed
  t.equal(answer.statusCode, 401, 'the user was removed while the answer was made')
  t.equal(answer.headers['www-authenticate'], 'Basic')
  t.equal(answer.body, 'Unauthorized\n')

  gate.use(web({ headers: { 'X-Content-Type-Options': 'nosniff' } }))
  const anonymous = app.inject({ url: '/slow' })
  await until(() => held.length === 1)
  gate.use(web({ users: new Map([['p', HASH]]), headers: { 'X-Frame-Options': 'deny' } }))
  held.shift()!()
  const added = await anonymous
  t.equal(added.statusCode, 401, 'auth was turned on while the answer was made')
  t.equal(added.headers['x-frame-options'], 'deny', 'with the new headers')
  t.equal(added.headers['x-content-type-options'], undefined, 'and without the old ones')

  const kept = app.inject({ url: '/slow', headers: { authorization: GOOD } })
  await until(() => held.length === 1)
  gate.use(web({ users: new Map([['p', HASH]]) }))
  held.shift()!()
  const still = await kept
  t.equal(still.statusCode, 200, 'a reload that keeps the user keeps the answer')
  t.equal(still.body, 'metrics\n')
})

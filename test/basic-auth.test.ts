import bcrypt from 'bcryptjs'
import t from 'tap'
import { BasicAuth, parseBasicAuth } from '../lib/server/basic-auth.js'

const header = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`

t.test('parseBasicAuth reads user and password, or nothing', async (t) => {
  t.same(parseBasicAuth(header('prometheus:pa:ss')), { user: 'prometheus', password: 'pa:ss' }, 'the password may hold colons')
  t.same(parseBasicAuth(`basic   ${Buffer.from('u:').toString('base64')}`), { user: 'u', password: '' })
  t.equal(parseBasicAuth(undefined), undefined)
  t.equal(parseBasicAuth('Bearer abc'), undefined)
  t.equal(parseBasicAuth(header('no colon')), undefined)
  t.equal(parseBasicAuth('Basic !!!'), undefined)
})

t.test('right password passes, wrong or unknown fails, nothing configured means not required', async (t) => {
  const auth = new BasicAuth(new Map([['prometheus', bcrypt.hashSync('s3cret', 4)]]))
  t.equal(auth.required, true)
  t.equal(await auth.check({ user: 'prometheus', password: 's3cret' }), true)
  t.equal(await auth.check({ user: 'prometheus', password: 'wrong' }), false)
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), false)
  t.equal(await auth.check(undefined), false)
  t.equal(new BasicAuth(new Map()).required, false)
})

/** BasicAuth with bcrypt.compare counted: which hashes it was asked to compare against. */
async function countingAuth (t: { mockImport: typeof import('tap')['default']['mockImport'] }, users: Map<string, string>): Promise<{ auth: BasicAuth, compared: string[] }> {
  const compared: string[] = []
  const { BasicAuth: Counted } = await t.mockImport<typeof import('../lib/server/basic-auth.js')>('../lib/server/basic-auth.js', {
    bcryptjs: { default: { compare: async (password: string, hash: string) => { compared.push(hash); return await bcrypt.compare(password, hash) } } }
  })
  return { auth: new Counted(users), compared }
}

t.test('a passed check is remembered: a scrape every second pays bcrypt once', async (t) => {
  const hash = bcrypt.hashSync('s3cret', 4)
  const { auth, compared } = await countingAuth(t, new Map([['p', hash]]))
  for (let i = 0; i < 100; i++) t.equal(await auth.check({ user: 'p', password: 's3cret' }), true)
  t.same(compared, [hash], 'one bcrypt comparison for a hundred checks')
  t.equal(await auth.check({ user: 'p', password: 's3cre' }), false, 'a different password is not served from the cache')
  t.equal(compared.length, 2)
})

t.test('an unknown user costs a bcrypt comparison too, against a cost-10 dummy hash', async (t) => {
  const { auth, compared } = await countingAuth(t, new Map([['p', bcrypt.hashSync('s3cret', 10)]]))
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), false)
  t.equal(compared.length, 1)
  t.match(compared[0], /^\$2b\$10\$/)
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), false)
  t.equal(compared.length, 2, 'failures are never cached')
})

t.test('the cache stays bounded: the oldest entries go first', async (t) => {
  const users = new Map(Array.from({ length: 120 }, (_, index) => [`u${index}`, bcrypt.hashSync('pw', 4)] as [string, string]))
  const { auth, compared } = await countingAuth(t, users)
  for (const user of users.keys()) t.equal(await auth.check({ user, password: 'pw' }), true)
  t.equal(compared.length, 120)
  t.equal(await auth.check({ user: 'u119', password: 'pw' }), true)
  t.equal(compared.length, 120, 'a recent one is still cached')
  t.equal(await auth.check({ user: 'u0', password: 'pw' }), true)
  t.equal(compared.length, 121, 'an evicted one goes through bcrypt again')
})

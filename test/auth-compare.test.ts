import bcrypt from 'bcryptjs'
import t from 'tap'
import { WorkerCompare } from '../lib/server/auth-compare.js'

const HASH = bcrypt.hashSync('s3cret', 4)

t.test('compares in a worker thread: right and wrong passwords', async (t) => {
  const worker = new WorkerCompare()
  t.teardown(() => worker.close())
  t.equal(await worker.compare('s3cret', HASH), true)
  t.equal(await worker.compare('wrong', HASH), false)
  t.same(await Promise.all([worker.compare('s3cret', HASH), worker.compare('x', HASH), worker.compare('s3cret', HASH)]), [true, false, true], 'answers go to the comparison that asked')
})

t.test('a worker that fails rejects what is pending and the next comparison gets a new worker', async (t) => {
  const worker = new WorkerCompare()
  t.teardown(() => worker.close())
  // bcryptjs throws on a password that is not a string: the worker dies of it.
  await t.rejects(worker.compare(42 as unknown as string, HASH), { message: /^the bcrypt worker stopped \(Illegal arguments/ })
  t.equal(await worker.compare('s3cret', HASH), true, 'a new worker answers')
  await worker.close()
  t.equal(await worker.compare('s3cret', HASH), true, 'and after close, another one')
})

t.test('close before any comparison, and twice', async (t) => {
  const worker = new WorkerCompare()
  await worker.close()
  await worker.close()
  t.pass()
})

import bcrypt from 'bcryptjs'
import fc from 'fast-check'
import t from 'tap'
import { bcryptKey } from '../lib/server/bcrypt-key.js'

// The key decides a password without bcrypt once another has matched: equal keys must be
// exactly the passwords bcrypt takes as equal, or a wrong password would pass (or a right one fail).
const password = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 8 }).map((head) => `${head}${'x'.repeat(72)}`))
/** Other passwords bcrypt cannot tell from `base`: a tail past its first 72 bytes, or its key's own repetition. */
const twin = (base: string): fc.Arbitrary<string> => fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }).map((tail) => `${base}${tail}`),
  fc.constant(`${base}\0`.repeat(Math.ceil(73 / (Buffer.byteLength(base) + 1))))
)

t.test('two passwords have the same key exactly when bcrypt takes them for the same', async (t) => {
  const pair = fc.oneof(fc.tuple(password, password), password.chain((a) => fc.tuple(fc.constant(a), twin(a))))
  fc.assert(fc.property(pair, fc.constantFrom('$2a$', '$2b$', '$2y$'), ([a, b], version) => {
    const hash = bcrypt.hashSync(a, 4).replace(/^\$2b\$/, version)
    return bcryptKey(a).equals(bcryptKey(b)) === bcrypt.compareSync(b, hash)
  }), { numRuns: 300 })
  const long = 'p'.repeat(72)
  t.ok(bcryptKey(long).equals(bcryptKey(`${long}anything`)), 'bcrypt reads 72 bytes')
  t.ok(bcrypt.compareSync(`${long}anything`, bcrypt.hashSync(long, 4)))
  t.ok(bcryptKey('ab').equals(bcryptKey('ab\0ab\0ab\0'.repeat(8))), 'and repeats a short key with its NUL')
  t.notOk(bcryptKey('ab').equals(bcryptKey('ab\0')))
  t.ok(bcryptKey('é').equals(bcryptKey('é')))
  t.notOk(bcryptKey('é').equals(bcryptKey('e\u0301')), 'bytes, not what a reader sees')
})

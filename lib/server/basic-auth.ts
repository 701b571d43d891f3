import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Compare } from './auth-compare.js'
import { Displaced, FairQueue } from './auth-queue.js'
import { bcryptKey } from './bcrypt-key.js'
import { ComparisonTimes } from './comparison-times.js'

/**
 * Without users, an unknown user is compared against this (cost 10, exporter-toolkit's usual).
 * It is the hash of random bytes nobody kept.
 */
const DUMMY_HASH = '$2b$10$PXgb9IPYs8yGZ8Ez46gYDOs2HVOjDfNjztpUlCYZgZB3lo/0..uku'
/** Checks remembered: passes (only a right password makes one) and failures, each bounded. */
const PASSED_SIZE = 100
const FAILED_SIZE = 1000
/** Comparisons that may wait: per client address and user, per user, and in all. */
const WAITING_PER_SOURCE = 4
const WAITING_PER_USER = 32
const WAITING_TOTAL = 1024
/** The lane of the comparisons that time the stand-in hash for unknown users. */
const UNKNOWN_USERS = Symbol('unknown users')
/** Checks judged again, at most, when reloads keep changing the user's hash meanwhile. */
const MAX_JUDGEMENTS = 4

export interface Credentials {
  user: string
  password: string
}

/** A check's outcome; `busy` when it was not even tried: too many are waiting. */
export type Verdict = 'pass' | 'fail' | 'busy'

/** The user and password of an `Authorization: Basic` header, or undefined. */
export function parseBasicAuth (header: string | undefined): Credentials | undefined {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

const cost = (hash: string): number => Number(/\$(\d{2})\$/.exec(hash)?.[1])

/**
 * What an unknown user is compared against: the costliest of the users' own hashes. A fixed
 * cost-10 hash answered in a quarter of the time a cost-12 user took, so the time of a 401 told
 * which user names exist.
 */
function standIn (users: ReadonlyMap<string, string>): string {
  return [...users.values()].sort((a, b) => cost(b) - cost(a))[0] ?? DUMMY_HASH
}

/** A bounded set that forgets what was least recently seen. */
class Recent {
  readonly #keys = new Set<string>()
  constructor (readonly size: number) {}

  has (key: string): boolean {
    if (!this.#keys.delete(key)) return false
    this.#keys.add(key)
    return true
  }

  add (key: string): void {
    if (this.#keys.size >= this.size) this.#keys.delete(this.#keys.values().next().value!)
    this.#keys.add(key)
  }
}

async function pause (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Basic auth against exporter-toolkit's bcrypt `basic_auth_users`, with its guarantees and more:
 * - both outcomes are remembered, keyed by an HMAC (a key of this process's own) of user, hash and
 *   password: a scrape every second pays bcrypt once, and a repeated guess costs nothing;
 * - passes and failures are remembered apart, so no number of wrong guesses evicts the right one;
 * - once a password has matched a user's hash, every other password for that user is decided by
 *   comparing what bcrypt would read of it (`bcryptKey`), without bcrypt: a flood of guesses for
 *   a user who has logged in costs no comparison;
 * - an unknown user costs no comparison either; both are answered after the time a comparison of
 *   that cost took lately (the costliest user's, for an unknown one), so the time of a 401 tells
 *   nothing a comparison's would not;
 * - the comparisons left (a user's first login since the hash was loaded) run one at a time, off
 *   the main thread, in turns between users, and within a user's turn the client address that
 *   used bcrypt least lately goes first (`FairQueue`); only so many wait: the rest are refused
 *   (`busy`) before costing anything;
 * - the same guess arriving many times at once is compared once;
 * - a check is judged against the users in force when it ends: a reload that removes a user or
 *   changes the hash while its password is compared is not missed.
 */
export class BasicAuth {
  #users: ReadonlyMap<string, string>
  #standIn: string
  readonly #secret = randomBytes(32)
  readonly #passed = new Recent(PASSED_SIZE)
  readonly #failed = new Recent(FAILED_SIZE)
  /** Per user, the hash a password matched and a digest of that password's bcrypt key. */
  readonly #known = new Map<string, { hash: string, key: Buffer }>()
  readonly #comparing = new Map<string, Promise<boolean>>()
  readonly #queue = new FairQueue(WAITING_PER_SOURCE, WAITING_PER_USER, WAITING_TOTAL)
  readonly #times = new ComparisonTimes()

  constructor (private readonly compare: Compare, users: ReadonlyMap<string, string> = new Map(), private readonly sleep = pause) {
    this.#users = users
    this.#standIn = standIn(users)
  }

  /** Puts `users` in force. What is remembered stays valid: it is keyed by the hash too. */
  use (users: ReadonlyMap<string, string>): void {
    this.#users = users
    this.#standIn = standIn(users)
    for (const [user, { hash }] of this.#known) if (users.get(user) !== hash) this.#known.delete(user)
  }

  get required (): boolean {
    return this.#users.size > 0
  }

  /** Checks `credentials` sent from `source` (see sourceOf). Rejects when the comparison fails to run. */
  async check (credentials: Credentials | undefined, source = ''): Promise<Verdict> {
    if (credentials === undefined) return 'fail'
    for (let judged = 0; judged < MAX_JUDGEMENTS; judged++) {
      const hash = this.#users.get(credentials.user)
      const verdict = await this.#judge(credentials, hash, source)
      // A reload changed the user while it was judged: judge again, against the user as it is now.
      if (verdict === 'busy' || this.#users.get(credentials.user) === hash) return verdict
    }
    return 'fail'
  }

  async #judge ({ user, password }: Credentials, hash: string | undefined, source: string): Promise<Verdict> {
    // Keyed by the user's own hash (null when unknown), never the stand-in: a removed user's
    // password checked against the stand-in must not find the pass it had.
    const key = this.#digest(JSON.stringify([user, hash ?? null, password])).toString('base64')
    if (this.#passed.has(key)) return 'pass'
    if (this.#failed.has(key)) return 'fail'
    const against = hash ?? this.#standIn
    const time = this.#times.sample(cost(against))
    const known = this.#knownMatch(user, hash, password)
    if (known === true) return this.#remember(key, 'pass')
    if (known === undefined && (hash !== undefined || time === undefined)) {
      // Compared: a known user's first login, or an unknown user before the stand-in's cost is timed.
      let matches
      try {
        matches = await this.#compared(key, hash === undefined ? UNKNOWN_USERS : user, source, { user, password, hash: against })
      } catch (error) {
        if (error instanceof Displaced) return 'busy'
        throw error
      }
      if (matches === undefined) return 'busy'
      return this.#remember(key, matches && hash !== undefined ? 'pass' : 'fail')
    }
    // Decided without bcrypt: answered after the time bcrypt would have taken. A known user's
    // hash was compared once to become known, so its cost is timed.
    await this.sleep(time!)
    return this.#remember(key, 'fail')
  }

  /** Whether `password` matches `user`'s `hash`, known without bcrypt once a password has matched it; undefined when not known. */
  #knownMatch (user: string, hash: string | undefined, password: string): boolean | undefined {
    const known = hash === undefined ? undefined : this.#known.get(user)
    return known === undefined || known.hash !== hash ? undefined : timingSafeEqual(known.key, this.#digest(bcryptKey(password)))
  }

  /** Whether `password` matches `hash`, compared once for every check of the same `key` meanwhile; undefined when refused. */
  async #compared (key: string, lane: unknown, source: string, { user, password, hash }: Credentials & { hash: string }): Promise<boolean | undefined> {
    let comparing = this.#comparing.get(key)
    if (comparing === undefined) {
      const queued = this.#queue.run(lane, source, async () => {
        // Another password matched while this one waited: no bcrypt needed any more.
        const known = this.#knownMatch(user, hash, password)
        if (known !== undefined) return known
        const { matches, ms } = await this.compare(password, hash)
        this.#times.record(cost(hash), ms)
        // Known before the next job runs, which may be a guess for the same user.
        if (matches && this.#users.get(user) === hash) this.#known.set(user, { hash, key: this.#digest(bcryptKey(password)) })
        return matches
      })
      if (queued === undefined) return undefined
      comparing = queued.finally(() => this.#comparing.delete(key))
      this.#comparing.set(key, comparing)
    }
    return await comparing
  }

  #remember (key: string, verdict: 'pass' | 'fail'): Verdict {
    if (verdict === 'pass') this.#passed.add(key)
    else this.#failed.add(key)
    return verdict
  }

  #digest (data: string | Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(data).digest()
  }
}

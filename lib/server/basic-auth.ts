import { createHash } from 'node:crypto'
import type { Compare } from './auth-compare.js'
import { FairQueue } from './auth-queue.js'

/**
 * Without users, an unknown user is compared against this (cost 10, exporter-toolkit's usual).
 * It is the hash of random bytes nobody kept.
 */
const DUMMY_HASH = '$2b$10$PXgb9IPYs8yGZ8Ez46gYDOs2HVOjDfNjztpUlCYZgZB3lo/0..uku'
/** Checks remembered: passes (only a right password makes one) and failures, each bounded. */
const PASSED_SIZE = 100
const FAILED_SIZE = 1000
/** Comparisons that may wait: per client address, and in all. */
const WAITING_PER_SOURCE = 4
const WAITING_TOTAL = 256

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

/**
 * Basic auth against exporter-toolkit's bcrypt `basic_auth_users`, with its guarantees and more:
 * - both outcomes are remembered, keyed by a digest of (user, hash, password), never the
 *   password: a scrape every second pays bcrypt once, and a repeated guess costs nothing;
 * - passes and failures are remembered apart, so no number of wrong guesses evicts the right one;
 * - an unknown user costs what the costliest known one does (it is compared against that hash);
 * - comparisons run one at a time (`compare` runs them off the main thread), taking turns between
 *   client addresses, and only so many wait: the rest are refused (`busy`) before costing anything;
 * - the same guess arriving many times at once is compared once.
 */
export class BasicAuth {
  #users: ReadonlyMap<string, string>
  #standIn: string
  readonly #passed = new Recent(PASSED_SIZE)
  readonly #failed = new Recent(FAILED_SIZE)
  readonly #comparing = new Map<string, Promise<boolean>>()
  readonly #queue = new FairQueue(WAITING_PER_SOURCE, WAITING_TOTAL)

  constructor (private readonly compare: Compare, users: ReadonlyMap<string, string> = new Map()) {
    this.#users = users
    this.#standIn = standIn(users)
  }

  /** Puts `users` in force. What is remembered stays valid: it is keyed by the hash too. */
  use (users: ReadonlyMap<string, string>): void {
    this.#users = users
    this.#standIn = standIn(users)
  }

  get required (): boolean {
    return this.#users.size > 0
  }

  /** Checks `credentials` sent from `source` (a client address). Rejects when the comparison fails to run. */
  async check (credentials: Credentials | undefined, source = ''): Promise<Verdict> {
    if (credentials === undefined) return 'fail'
    const { user, password } = credentials
    const hash = this.#users.get(user)
    const against = hash ?? this.#standIn
    // Keyed by the user's own hash (null when unknown), never the stand-in: a removed user's
    // password checked against the stand-in must not find the pass it had.
    const key = createHash('sha256').update(JSON.stringify([user, hash ?? null, password])).digest('base64')
    if (this.#passed.has(key)) return 'pass'
    if (this.#failed.has(key)) return 'fail'
    let comparing = this.#comparing.get(key)
    if (comparing === undefined) {
      const queued = this.#queue.run(source, async () => await this.compare(password, against))
      if (queued === undefined) return 'busy'
      comparing = queued.finally(() => this.#comparing.delete(key))
      this.#comparing.set(key, comparing)
    }
    const passed = await comparing && hash !== undefined
    if (passed) this.#passed.add(key)
    else this.#failed.add(key)
    return passed ? 'pass' : 'fail'
  }
}

import { createHash } from 'node:crypto'
import bcrypt from 'bcryptjs'

/**
 * An unknown user is compared against this, so that the check costs what a real one does
 * (cost 10, exporter-toolkit's usual). It is the hash of random bytes nobody kept.
 */
const DUMMY_HASH = '$2b$10$PXgb9IPYs8yGZ8Ez46gYDOs2HVOjDfNjztpUlCYZgZB3lo/0..uku'
const CACHE_SIZE = 100

export interface Credentials {
  user: string
  password: string
}

/** The user and password of an `Authorization: Basic` header, or undefined. */
export function parseBasicAuth (header: string | undefined): Credentials | undefined {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * Basic auth against exporter-toolkit's bcrypt `basic_auth_users`. bcrypt is slow on purpose,
 * so successful checks are remembered (by a digest, never the password) and a scrape every
 * second pays it once; an unknown user costs the same as a known one.
 */
export class BasicAuth {
  readonly #users: ReadonlyMap<string, string>
  readonly #passed = new Set<string>()

  constructor (users: ReadonlyMap<string, string>) {
    this.#users = users
  }

  get required (): boolean {
    return this.#users.size > 0
  }

  async check (credentials: Credentials | undefined): Promise<boolean> {
    if (credentials === undefined) return false
    const hash = this.#users.get(credentials.user)
    const digest = createHash('sha256').update(`${credentials.user}\0${credentials.password}\0${hash}`).digest('base64')
    if (hash !== undefined && this.#passed.has(digest)) return true
    const matches = await bcrypt.compare(credentials.password, hash ?? DUMMY_HASH)
    if (!matches || hash === undefined) return false
    if (this.#passed.size >= CACHE_SIZE) this.#passed.delete(this.#passed.values().next().value!)
    this.#passed.add(digest)
    return true
  }
}

import { isIPv6 } from 'node:net'

/** Thrown to a job's caller when a newcomer took its place before it ran. */
export class Displaced extends Error {
  override name = 'Displaced'
  constructor () {
    super('displaced from the comparison queue')
  }
}

/** Halves an address's recorded use every this many milliseconds. */
const HALF_LIFE_MS = 30_000
/**
 * What asking costs a source, as if it had used this many ms: a flood keeps asking (each answer
 * or refusal is followed by a new guess), a client asks once and waits. So even sources that
 * were never served are told apart from one that asks for the first time.
 */
const ASKING_MS = 1
/** Addresses whose use is remembered; the least recently charged is forgotten first (as new). */
const SOURCES_REMEMBERED = 4096

interface Job {
  run: () => Promise<void>
  displace: () => void
}

/** One lane's jobs by source, in the order each source's first waiting job came. */
type Lane = Map<string, Job[]>

/**
 * Runs jobs one at a time (exporter-toolkit's bcrypt mutex), in an order no flood can use to keep
 * someone else's job from running:
 * - lanes (basic auth: one per claimed user) take turns, so jobs in one lane delay another
 *   lane's by at most one job per other busy lane;
 * - in a lane, the source (a client address) that used the least lately goes first (time running
 *   jobs, plus a little for every job it asked for; between equals, the one with fewer jobs
 *   waiting), so a client that has not flooded is served next, however many sources flood;
 * - jobs waiting are bounded per source in a lane, per lane and in all. At a bound, a newcomer
 *   displaces the newest job of the source that used the most time lately (or, between sources
 *   that used the same, waits the most), when that source used more than the newcomer's (or has
 *   at least two more jobs waiting); else the newcomer is refused, before it costs anything.
 */
export class FairQueue {
  readonly #lanes = new Map<unknown, Lane>()
  /** Lanes with a job waiting, in the order of their turns; the one served rejoins at the back. */
  readonly #turns = new Set<unknown>()
  /** Time each source's jobs took, in ms, halved every HALF_LIFE_MS: `[ms, when]`. */
  readonly #used = new Map<string, [number, number]>()
  #size = 0
  /** The lane of the job running now, if any: it rejoins the turns once that job ends. */
  #serving: { lane: unknown } | undefined

  constructor (readonly perSource: number, readonly perLane: number, readonly total: number, private readonly now: () => number = performance.now.bind(performance)) {}

  /** `job`'s result (rejecting with Displaced if a newcomer takes its place), or undefined at once when there is no room. */
  run<T> (lane: unknown, source: string, job: () => Promise<T>): Promise<T> | undefined {
    // Charged before anything else: the newcomer's own asking counts, as its rivals' did.
    this.#charge(source, ASKING_MS)
    const waiting = this.#lanes.get(lane)
    const mine = waiting?.get(source)
    if ((mine?.length ?? 0) >= this.perSource) return undefined
    // The jobs among which one must go to make room, if a bound is reached.
    const crowded = this.#size >= this.total ? [...this.#lanes.values()] : waiting !== undefined && laneSize(waiting) >= this.perLane ? [waiting] : undefined
    if (crowded !== undefined && !this.#displaceFor(source, mine?.length ?? 0, crowded)) return undefined
    const result = new Promise<T>((resolve, reject) => {
      const entry: Job = {
        run: async () => {
          const started = this.now()
          await job().then(resolve, reject)
          this.#charge(source, this.now() - started)
        },
        displace: () => { reject(new Displaced()) }
      }
      const lanes = this.#lanes.get(lane) ?? new Map<string, Job[]>()
      const jobs = lanes.get(source) ?? []
      jobs.push(entry)
      lanes.set(source, jobs)
      this.#lanes.set(lane, lanes)
    })
    this.#size++
    if (this.#serving?.lane !== lane) this.#turns.add(lane)
    this.#next()
    return result
  }

  /**
   * Makes room among `lanes` for a job of `source`, which has `waiting` jobs in its own lane
   * already: the newest job of the heaviest source goes, if it weighs more. Whether room was made.
   */
  #displaceFor (source: string, waiting: number, lanes: Lane[]): boolean {
    const mine = this.#use(source)
    let heaviest: { jobs: Job[], lane: Lane, source: string, use: number } | undefined
    for (const lane of lanes) {
      for (const [other, jobs] of lane) {
        const use = this.#use(other)
        if (heaviest === undefined || use > heaviest.use || (use === heaviest.use && jobs.length > heaviest.jobs.length)) heaviest = { jobs, lane, source: other, use }
      }
    }
    // Every job waiting counts in some lane, and a scope is full only with jobs in it.
    const victim = heaviest!
    if (victim.source === source || !(victim.use > mine || victim.jobs.length >= waiting + 2)) return false
    victim.jobs.pop()!.displace()
    if (victim.jobs.length === 0) victim.lane.delete(victim.source)
    this.#size--
    return true
  }

  /** Time `source`'s jobs took lately, in ms, as of now. */
  #use (source: string): number {
    const used = this.#used.get(source)
    return used === undefined ? 0 : used[0] * 2 ** ((used[1] - this.now()) / HALF_LIFE_MS)
  }

  #charge (source: string, ms: number): void {
    const use = this.#use(source) + ms
    // Re-inserted, so the map's first entry is the source charged least recently.
    this.#used.delete(source)
    if (this.#used.size >= SOURCES_REMEMBERED) this.#used.delete(this.#used.keys().next().value!)
    this.#used.set(source, [use, this.now()])
  }

  #next (): void {
    if (this.#serving !== undefined) return
    const lane = this.#turns.values().next().value
    if (lane === undefined) return
    this.#turns.delete(lane)
    const waiting = this.#lanes.get(lane)!
    // The lightest source; between equals, the one with fewer jobs waiting (a client waits for
    // its answer before it asks again; a flood does not), then the one waiting longest.
    let chosen: string | undefined
    let least = Infinity
    let fewest = Infinity
    for (const [source, jobs] of waiting) {
      const use = this.#use(source)
      if (use < least || (use === least && jobs.length < fewest)) {
        least = use
        fewest = jobs.length
        chosen = source
      }
    }
    const jobs = waiting.get(chosen!)!
    const job = jobs.shift()!
    if (jobs.length === 0) waiting.delete(chosen!)
    this.#size--
    this.#serving = { lane }
    // `job.run` never rejects: its result went to the caller.
    job.run().then(() => {
      this.#serving = undefined
      if (waiting.size > 0) this.#turns.add(lane)
      else this.#lanes.delete(lane)
      this.#next()
    })
  }
}

function laneSize (lane: Lane): number {
  let size = 0
  for (const jobs of lane.values()) size += jobs.length
  return size
}

/**
 * The source a client address counts as: the address itself, an IPv4-mapped IPv6 address as its
 * IPv4 address, and any other IPv6 address as its /64, which one host or one customer usually
 * has whole: one attacker, not 2^64 of them.
 */
export function sourceOf (address: string | undefined): string {
  if (address === undefined || !isIPv6(address)) return address ?? ''
  const plain = address.replace(/%.*$/, '').toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain)
  if (mapped !== null) return mapped[1]!
  const [head = '', tail] = plain.split('::')
  const groups = head === '' ? [] : head.split(':')
  // Fewer than four groups before `::`: the rest of the first four are zero.
  if (tail !== undefined) while (groups.length < 4) groups.push('0')
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`
}

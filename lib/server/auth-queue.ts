/**
 * Runs jobs one at a time (exporter-toolkit's bcrypt mutex), taking turns between sources (client
 * addresses), so a flood from one address delays another's job by at most one job per other
 * busy address, not by the whole flood. Both the jobs waiting per source and in all are bounded:
 * past either bound a job is refused at once, before it costs anything.
 */
export class FairQueue {
  readonly #waiting = new Map<string, Array<() => Promise<void>>>()
  /** Sources with a job waiting, in the order of their turns; the one being served rejoins at the back. */
  readonly #turns = new Set<string>()
  #serving: string | undefined
  #size = 0

  constructor (readonly perSource: number, readonly total: number) {}

  /** `job`'s result, or undefined at once when `source` or the queue is full. */
  run<T> (source: string, job: () => Promise<T>): Promise<T> | undefined {
    const queue = this.#waiting.get(source) ?? []
    if (queue.length >= this.perSource || this.#size >= this.total) return undefined
    const result = new Promise<T>((resolve, reject) => {
      queue.push(async () => { await job().then(resolve, reject) })
    })
    this.#waiting.set(source, queue)
    this.#size++
    if (source !== this.#serving) this.#turns.add(source)
    this.#next()
    return result
  }

  #next (): void {
    if (this.#serving !== undefined) return
    const source = this.#turns.values().next().value
    if (source === undefined) return
    this.#turns.delete(source)
    const queue = this.#waiting.get(source)!
    const job = queue.shift()!
    this.#size--
    this.#serving = source
    // `job` never rejects: run() wrapped it.
    job().then(() => {
      this.#serving = undefined
      if (queue.length > 0) this.#turns.add(source)
      else this.#waiting.delete(source)
      this.#next()
    })
  }
}

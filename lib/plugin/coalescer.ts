/**
 * Overlapping requests for the same thing share one piece of work, as Prometheus' Go client
 * coalesces overlapping scrapes: ten scrapers arriving together cost one collection.
 */
export class Coalescer<Key, Value> {
  readonly #running = new Map<Key, Promise<Value>>()

  /** The running work for `key`, or `work()` started now and shared until it settles. */
  async run (key: Key, work: () => Promise<Value>): Promise<Value> {
    let running = this.#running.get(key)
    if (running === undefined) {
      running = work().finally(() => {
        if (this.#running.get(key) === running) this.#running.delete(key)
      })
      this.#running.set(key, running)
    }
    return await running
  }

  /** Whether work for `key` is running now (a scrape then joins it). */
  running (key: Key): boolean {
    return this.#running.has(key)
  }

  /** Stops sharing the work for `key` (one that hangs, say): the next caller starts afresh. */
  abandon (key: Key): void {
    this.#running.delete(key)
  }
}

/**
 * `work()` at this turn's check phase (setImmediate). Requests read from the network in one turn
 * of the event loop all reach their handlers before it: work they share through a Coalescer,
 * started there, serves every one of them, where work done at once would be done for each.
 */
export async function atCheckPhase<Value> (work: () => Value | Promise<Value>): Promise<Value> {
  await new Promise((resolve) => setImmediate(resolve))
  return await work()
}

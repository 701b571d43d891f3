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

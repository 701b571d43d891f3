import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { CompareRequest, CompareResult } from './auth-worker.js'

/** Compares a password with a bcrypt hash. */
export type Compare = (password: string, hash: string) => Promise<boolean>

// The worker is this folder's auth-worker, as compiled (.js) or as the tests run it (.ts).
const WORKER = new URL(`./auth-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

interface Pending { resolve: (matches: boolean) => void, reject: (error: Error) => void }

/**
 * bcrypt off the main thread: one worker, started at the first comparison, restarted after it
 * fails. It keeps the process alive only while a comparison is pending; `close` ends it.
 */
export class WorkerCompare {
  #worker: Worker | undefined
  readonly #pending = new Map<number, Pending>()
  #nextId = 0

  readonly compare: Compare = async (password, hash) => await new Promise((resolve, reject) => {
    const id = this.#nextId++
    this.#pending.set(id, { resolve, reject })
    const worker = this.#start()
    // Kept alive while a comparison is pending, never while idle.
    worker.ref()
    worker.postMessage({ id, password, hash } satisfies CompareRequest)
  })

  #start (): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(WORKER)
    let failure: Error | undefined
    worker.on('message', ({ id, matches }: CompareResult) => {
      this.#pending.get(id)?.resolve(matches)
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
    })
    // Without an 'error' listener a failing worker would throw into the host.
    worker.on('error', (error) => { failure = error })
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined
      const error = new Error(`the bcrypt worker stopped (${failure === undefined ? `exit code ${code}` : failure.message})`)
      for (const { reject } of this.#pending.values()) reject(error)
      this.#pending.clear()
    })
    this.#worker = worker
    return worker
  }

  async close (): Promise<void> {
    await this.#worker?.terminate()
  }
}

import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { CompareRequest, CompareResult } from './auth-worker.js'

/** Whether a password matched a bcrypt hash, and how long bcrypt took to tell. */
export interface Comparison { matches: boolean, ms: number }
/** Compares a password with a bcrypt hash. */
export type Compare = (password: string, hash: string) => Promise<Comparison>

// The worker is this folder's auth-worker, as compiled (.js) or as the tests run it (.ts).
const WORKER = new URL(`./auth-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

interface Pending { resolve: (comparison: Comparison) => void, reject: (error: Error) => void, timer: NodeJS.Timeout | undefined }
/**
 * A comparison at the highest cost allowed (15) takes seconds; one still running after this is
 * stuck, and would hold the one-at-a-time queue, so every new credential got 429, for good.
 */
const DEADLINE_MS = 30_000

/**
 * bcrypt off the main thread: one worker, started at the first comparison, restarted after it
 * fails, takes longer than `deadlineMs` to start, or a comparison outlives `deadlineMs` from the
 * moment the worker runs (a start under a busy machine or a slow loader is not the comparison's
 * time). It keeps the process alive only while a comparison is pending; `close` ends it.
 */
export class WorkerCompare {
  constructor (private readonly deadlineMs = DEADLINE_MS) {}

  #worker: Worker | undefined
  /** Until the worker runs: what ends it if it never does. */
  #starting: NodeJS.Timeout | undefined
  readonly #pending = new Map<number, Pending>()
  #nextId = 0

  readonly compare: Compare = async (password, hash) => await new Promise((resolve, reject) => {
    const id = this.#nextId++
    const worker = this.#start()
    this.#pending.set(id, { resolve, reject, timer: this.#starting === undefined ? this.#deadline(worker) : undefined })
    // Kept alive while a comparison is pending, never while idle.
    worker.ref()
    worker.postMessage({ id, password, hash } satisfies CompareRequest)
  })

  #deadline (worker: Worker): NodeJS.Timeout {
    return setTimeout(() => { this.#stop(worker, new Error(`a comparison took over ${this.deadlineMs} ms`)) }, this.deadlineMs)
  }

  #start (): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(WORKER)
    let failure: Error | undefined
    this.#starting = setTimeout(() => { this.#stop(worker, new Error(`it did not start within ${this.deadlineMs} ms`)) }, this.deadlineMs)
    worker.once('online', () => {
      clearTimeout(this.#starting)
      this.#starting = undefined
      // The comparisons asked for meanwhile get their time from now.
      for (const pending of this.#pending.values()) pending.timer = this.#deadline(worker)
    })
    worker.on('message', ({ id, matches, ms }: CompareResult) => {
      // Nothing is pending for a comparison its deadline already gave up on.
      const pending = this.#pending.get(id)
      clearTimeout(pending?.timer)
      pending?.resolve({ matches, ms })
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
    })
    // Without an 'error' listener a failing worker would throw into the host.
    worker.on('error', (error) => { failure = error })
    worker.on('exit', (code) => { this.#stop(worker, failure ?? new Error(`exit code ${code}`)) })
    this.#worker = worker
    return worker
  }

  /** Rejects what `worker` has pending and ends it; the next comparison starts a new one. */
  #stop (worker: Worker, cause: Error): void {
    // A worker already replaced has nothing pending: what is pending belongs to its successor.
    if (this.#worker !== worker) return
    this.#worker = undefined
    clearTimeout(this.#starting)
    this.#starting = undefined
    const error = new Error(`the bcrypt worker stopped (${cause.message})`)
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer)
      reject(error)
    }
    this.#pending.clear()
    // terminate() does not reject: it resolves with the exit code.
    worker.terminate()
  }

  async close (): Promise<void> {
    await this.#worker?.terminate()
  }
}

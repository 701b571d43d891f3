import { parentPort } from 'node:worker_threads'
import bcrypt from 'bcryptjs'

/**
 * The bcrypt comparisons of basic auth, in a thread of their own: each one is tens of
 * milliseconds of pure computation that would otherwise stop the host's event loop.
 * A throw here ends the worker; the main thread answers the pending checks with an error.
 */
export interface CompareRequest { id: number, password: string, hash: string }
/** `ms`: the comparison's own time, measured here: neither the worker's start nor the message's way counts. */
export interface CompareResult { id: number, matches: boolean, ms: number }

parentPort!.on('message', ({ id, password, hash }: CompareRequest) => {
  const started = performance.now()
  const matches = bcrypt.compareSync(password, hash)
  parentPort!.postMessage({ id, matches, ms: performance.now() - started } satisfies CompareResult)
})

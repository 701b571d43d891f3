import { parentPort } from 'node:worker_threads'
import bcrypt from 'bcryptjs'

/**
 * The bcrypt comparisons of basic auth, in a thread of their own: each one is tens of
 * milliseconds of pure computation that would otherwise stop the host's event loop.
 * A throw here ends the worker; the main thread answers the pending checks with an error.
 */
export interface CompareRequest { id: number, password: string, hash: string }
export interface CompareResult { id: number, matches: boolean }

parentPort!.on('message', ({ id, password, hash }: CompareRequest) => {
  parentPort!.postMessage({ id, matches: bcrypt.compareSync(password, hash) } satisfies CompareResult)
})

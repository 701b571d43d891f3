import type { Registry } from 'prom-client'
import { registerFamily } from '../plugin/collectors/scrape-time-metric.js'
import { NO_LABELS } from '../plugin/text-format.js'
import type { Rename } from '../plugin/naming.js'

/**
 * The default `maxConnections` of a listener: half the default soft limit of open files (1024
 * on Linux), so that a flood of connections never takes the descriptors the process needs for
 * anything else (its own files, the runner manager's sockets). During a move the old listener
 * drains beside the new one, but it ends its idle connections within 2 s.
 */
export const DEFAULT_MAX_CONNECTIONS = 512

/** How often at most a line about the cap, or about failed accepts, reaches the log. */
const REPORT_EVERY_MS = 60_000

/** A log line that comes at most once every `REPORT_EVERY_MS`. */
class Throttle {
  #last = -Infinity

  due (): boolean {
    const now = performance.now()
    if (now - this.#last < REPORT_EVERY_MS) return false
    this.#last = now
    return true
  }
}

/**
 * How many connections a listener holds at once, and what it closed to stay within that:
 * shared by every listener of a server, so the counts outlive reloads.
 */
export class ConnectionCap {
  readonly max: number
  /** Idle connections closed to make room for a new one. */
  evicted = 0
  /** New connections closed at once because every open one was busy. */
  refused = 0
  readonly #warn: (message: string) => void
  readonly #capped = new Throttle()
  readonly #failed = new Throttle()
  #reported = { evicted: 0, refused: 0 }

  constructor (max: number, warn: (message: string) => void) {
    this.max = max
    this.#warn = warn
  }

  evict (): void {
    this.evicted++
    this.#report()
  }

  refuse (): void {
    this.refused++
    this.#report()
  }

  /** An accept that failed (EMFILE: out of file descriptors): the client sees a reset, the server goes on. */
  acceptFailed (error: Error): void {
    if (this.#failed.due()) this.#warn(`metrics server could not accept a connection: ${error.message}; this line comes at most once a minute`)
  }

  #report (): void {
    if (!this.#capped.due()) return
    const evicted = this.evicted - this.#reported.evicted
    const refused = this.refused - this.#reported.refused
    this.#reported = { evicted: this.evicted, refused: this.refused }
    this.#warn(`metrics server at maxConnections (${this.max} a listener): closed ${evicted} idle connection(s) to make room for new ones and refused ${refused} new one(s), every connection being busy, since the last line; this line comes at most once a minute`)
  }
}

export function registerConnectionMetrics (registry: Registry, cap: ConnectionCap, rename: Rename): void {
  registerFamily(registry, {
    name: rename('runner_metrics_server_connections_evicted_total'),
    help: 'Idle connections the metrics server closed to make room for a new one, at maxConnections.',
    type: 'counter',
    read: () => [{ labels: NO_LABELS, value: cap.evicted }]
  })
  registerFamily(registry, {
    name: rename('runner_metrics_server_connections_refused_total'),
    help: 'New connections the metrics server closed at once at maxConnections, every open one being busy.',
    type: 'counter',
    read: () => [{ labels: NO_LABELS, value: cap.refused }]
  })
}

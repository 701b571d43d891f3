import type { RunnerStats } from '../../tracker/build-tracker.js'
import { reusedLabels } from '../text-format.js'
import type { Sample } from './scrape-time-metric.js'

type Labels = Sample['labels']

/** The label objects of one histogram series: its own (for `_sum` and `_count`), and each bucket's with its `le`. */
export interface HistogramLabels {
  series: Labels
  buckets: Labels[]
}

/** A series' labels, and its buckets' (`le` = each bound, the last `+Inf`), all marked as reused. */
export function histogramLabels (labels: Labels, bounds: readonly number[]): HistogramLabels {
  return { series: reusedLabels({ ...labels }), buckets: [...bounds, '+Inf'].map((le) => reusedLabels({ ...labels, le })) }
}

/**
 * The label objects of series that come back at every scrape, built the first time each is
 * asked for and reused from then on: their text is then built once too (text-format.ts).
 * A series is named by an owner (a runner's stats: the cache goes with it) and a key within it.
 * Series are bounded by construction (runners, stages, endpoints, GC kinds); `limit` bounds
 * the keys kept per owner all the same, for the few that come from outside (handle types).
 */
export class ReusedLabels<Owner extends object, Key, Value = Labels> {
  readonly #byOwner = new WeakMap<Owner, Map<Key, Value>>()
  readonly #make: (owner: Owner, key: Key) => Value
  readonly #limit: number

  constructor (make: (owner: Owner, key: Key) => Value, limit = 10_000) {
    this.#make = make
    this.#limit = limit
  }

  get (owner: Owner, key: Key): Value {
    let known = this.#byOwner.get(owner)
    if (known === undefined) this.#byOwner.set(owner, known = new Map())
    let value = known.get(key)
    if (value === undefined) {
      value = this.#make(owner, key)
      if (known.size < this.#limit) known.set(key, value)
    }
    return value
  }
}

/** ReusedLabels of series named by a key alone (a handle type, a heap space), at most `limit` of them. */
export function reusedByKey<Key> (make: (key: Key) => Labels, limit: number): (key: Key) => Labels {
  const owner = {}
  const labels = new ReusedLabels((owner: object, key: Key) => reusedLabels(make(key)), limit)
  return (key) => labels.get(owner, key)
}

const byRunner = new WeakMap<RunnerStats, Labels>()

/** `{ runner }`: one object per runner, for every family labelled by runner alone. */
export function runnerLabels (runner: RunnerStats): Labels {
  let labels = byRunner.get(runner)
  if (labels === undefined) byRunner.set(runner, labels = reusedLabels({ runner: runner.name }))
  return labels
}

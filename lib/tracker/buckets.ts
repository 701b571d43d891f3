/** The bucket a value falls in: the first bound it does not exceed, or one past the last. */
export function bucketOf (bounds: readonly number[], value: number): number {
  let bucket = 0
  while (bucket < bounds.length && value > bounds[bucket]!) bucket++
  return bucket
}

/**
 * The plain numbers of a few histograms sharing their bounds (one per stage, per endpoint...):
 * counts per bucket, not cumulative, the last slot of each series above the largest bound.
 * Observing writes two numbers and allocates nothing.
 */
export class Histograms {
  readonly bounds: readonly number[]
  readonly counts: Float64Array
  readonly sums: Float64Array
  /** Which series exist (are written): every one from the start, or, made `lazy`, each once created. */
  readonly exists: Uint8Array

  constructor (bounds: readonly number[], series = 1, lazy = false) {
    this.bounds = bounds
    this.counts = new Float64Array(series * (bounds.length + 1))
    this.sums = new Float64Array(series)
    this.exists = new Uint8Array(series).fill(lazy ? 0 : 1)
  }

  create (series: number): void {
    this.exists[series] = 1
  }

  observe (series: number, value: number): void {
    this.counts[series * (this.bounds.length + 1) + bucketOf(this.bounds, value)]! += 1
    this.sums[series]! += value
  }

  /** The bucket counts of one series: a view, for reading at scrape time. */
  countsOf (series: number): Float64Array {
    const width = this.bounds.length + 1
    return this.counts.subarray(series * width, (series + 1) * width)
  }
}

/**
 * The bytes of exposition text a tracker's series may write, charged when a series is created.
 * Caps on each factor (runners, name length, stages, statuses) cannot bound the output alone:
 * their product can. The charge is an upper bound of what a series' lines take in either naming
 * and format, so the scrape's per-runner lines never exceed what was charged.
 */

/** The longest a number is written (`${value}`, as prom-client): `-0.0000012345678901234567`. */
export const MAX_VALUE_CHARS = 25

/**
 * The most bytes a line of any per-runner family takes beside its runner and stage label
 * values, with a value of MAX_VALUE_CHARS and its newline: the stage histogram's bucket under
 * GitLab Runner's names, `gitlab_runner_job_stage_duration_seconds_bucket{runner="",stage="",le="3600"} `
 * (test/cardinality.test.ts measures every family's lines in both namings against it). A line
 * is charged this, the tracker's longest stage name and its runner's name: lines without a stage
 * are shorter than that, since the built-in stages alone are longer than any of their labels.
 */
export const LINE_BYTES = 104

/** The lines one histogram series writes: a bucket per bound and `+Inf`, then `_sum` and `_count`. */
export function histogramLines (bounds: readonly number[]): number {
  return bounds.length + 3
}

/** The bytes of a label value on the wire: UTF-8, with `\`, `"` and newline escaped to two bytes each. */
export function labelValueBytes (value: string): number {
  let escapes = 0
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index)
    if (unit === 0x5c || unit === 0x22 || unit === 0x0a) escapes++
  }
  return Buffer.byteLength(value) + escapes
}

/** The bytes left to charge, and the charges: a series, once charged, stays for good (no flapping). */
export class OutputBudget {
  readonly max: number
  #used = 0

  constructor (max: number) {
    this.max = max
  }

  get used (): number {
    return this.#used
  }

  get left (): number {
    return this.max - this.#used
  }

  /** Charges `bytes` if they fit; false, charging nothing, if they do not. */
  take (bytes: number): boolean {
    if (bytes > this.max - this.#used) return false
    this.#used += bytes
    return true
  }
}

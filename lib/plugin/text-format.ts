import type { MetricKind, Sample } from './collectors/scrape-time-metric.js'

/**
 * The exposition text of one metric family, byte for byte as prom-client's Registry writes it
 * (text 0.0.4 or OpenMetrics 1.0.0, default labels after the sample's own), without its generic
 * per-sample work: label objects merged and copied, every value run through two regexps. Here a
 * value is escaped only when it holds a character that needs it, and a family's HELP and TYPE
 * lines are built once.
 */
export class FamilyText {
  readonly #name: string
  readonly #type: MetricKind
  readonly #head: { text: string, openMetrics: string }
  readonly #last = new LastWritten()

  constructor (name: string, help: string, type: MetricKind) {
    this.#name = name
    this.#type = type
    const head = (shown: string): string => `# HELP ${escape(shown)} ${escape(help)}\n# TYPE ${escape(shown)} ${type}`
    // OpenMetrics names a counter family without `_total`, and its samples with it.
    this.#head = { text: head(name), openMetrics: type === 'counter' ? head(name.replace(/_total$/, '')) : head(name) }
  }

  format (samples: readonly Sample[], openMetrics: boolean, defaultLabels: Readonly<Record<string, string | number>> | undefined): string {
    // Default labels are read afresh, as prom-client does: the object may change in place.
    if (defaultLabels !== undefined) return this.#write(samples, openMetrics, defaultLabels)
    return this.#last.text(samples, openMetrics) ?? this.#last.keep(samples, openMetrics, this.#write(samples, openMetrics, undefined))
  }

  #write (samples: readonly Sample[], openMetrics: boolean, defaultLabels: Readonly<Record<string, string | number>> | undefined): string {
    const counter = openMetrics && this.#type === 'counter'
    const base = counter ? this.#name.replace(/_total$/, '') : this.#name
    let text = openMetrics ? this.#head.openMetrics : this.#head.text
    for (const sample of samples) {
      const name = counter ? `${sample.metricName ?? base}_total` : sample.metricName ?? base
      text += `\n${name}${defaultLabels === undefined ? (prebuilt.get(sample.labels) ?? labelText(sample.labels, undefined)) : labelText(sample.labels, defaultLabels)} ${valueText(sample.value)}`
    }
    return text
  }
}

/**
 * A family's last text (without default labels) and the samples it was written from. Most families come back unchanged
 * from one scrape to the next (counters no build moved, limits, versions, histograms of builds
 * that ran earlier): their text is then the same string, and the samples (same label objects,
 * names and values) are cheaper to compare than the text is to write again.
 */
class LastWritten {
  #openMetrics = false
  readonly #labels: object[] = []
  readonly #names: Array<string | undefined> = []
  readonly #values: number[] = []
  #text: string | undefined

  /** The last text, if `samples` are what it was written from, in the same format. */
  text (samples: readonly Sample[], openMetrics: boolean): string | undefined {
    if (this.#text === undefined || openMetrics !== this.#openMetrics || samples.length !== this.#values.length) return undefined
    for (let index = 0; index < samples.length; index++) {
      const sample = samples[index]!
      if (sample.value !== this.#values[index] || sample.labels !== this.#labels[index] || sample.metricName !== this.#names[index]) return undefined
    }
    return this.#text
  }

  /** Keeps `text` as written from `samples`; returns it. */
  keep (samples: readonly Sample[], openMetrics: boolean, text: string): string {
    this.#openMetrics = openMetrics
    this.#labels.length = this.#names.length = this.#values.length = samples.length
    for (let index = 0; index < samples.length; index++) {
      const sample = samples[index]!
      this.#labels[index] = sample.labels
      this.#names[index] = sample.metricName
      this.#values[index] = sample.value
    }
    this.#text = flattened(text)
    return text
  }
}

/**
 * `text` as one flat string. Written piece by piece, it is a tree of pieces, which every scrape's
 * join of the families would walk again (about four times the cost of copying a flat string);
 * V8 flattens a string in place when it is read as a number.
 */
function flattened (text: string): string {
  Number(text)
  return text
}

// The `{...}` text of label objects that come back unchanged at every scrape, built once.
const prebuilt = new WeakMap<object, string>()

/**
 * Marks `labels` as coming back, unchanged, at every scrape: its text is built now, once, and
 * reused for as long as the object lives. (The text of any other labels object is built anew.)
 */
export function reusedLabels<T extends Sample['labels']> (labels: T): T {
  prebuilt.set(labels, labelText(labels, undefined))
  return labels
}

/** The labels of a series that has none, shared. */
export const NO_LABELS = reusedLabels({})

function escape (text: string): string {
  return /[\\\n]/.test(text) ? text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : text
}

function labelValue (value: string | number): string | number {
  return typeof value === 'string' && /[\\\n"]/.test(value) ? escape(value).replace(/"/g, '\\"') : value
}

function labelText (labels: Readonly<Record<string, string | number>>, defaults: Readonly<Record<string, string | number>> | undefined): string {
  let text = ''
  for (const key in labels) text += `${text === '' ? '' : ','}${key}="${labelValue(labels[key]!)}"`
  if (defaults !== undefined) {
    for (const key in defaults) if (!(key in labels)) text += `${text === '' ? '' : ','}${key}="${labelValue(defaults[key]!)}"`
  }
  return text === '' ? '' : `{${text}}`
}

/** As prom-client writes a value (its spelling of NaN included). */
function valueText (value: number): string {
  if (Number.isFinite(value)) return `${value}`
  if (Number.isNaN(value)) return 'Nan'
  return value < 0 ? '-Inf' : '+Inf'
}

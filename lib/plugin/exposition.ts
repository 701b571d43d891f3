import { promisify } from 'node:util'
import { gzip as gzipCallback, gzipSync } from 'node:zlib'
import Negotiator from 'negotiator'
import { Registry, type Metric } from 'prom-client'
import { ScrapeTimeMetric } from './collectors/scrape-time-metric.js'

const gzip = promisify(gzipCallback)

export const TEXT_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE
type ContentType = typeof TEXT_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE

const OFFERED_ENCODINGS = ['identity', 'gzip']

// The versions served of each media type; a range naming no version takes the one served.
const SERVED: ReadonlyMap<string, { version: string, contentType: ContentType }> = new Map([
  ['text/plain', { version: '0.0.4', contentType: TEXT_CONTENT_TYPE }],
  ['application/openmetrics-text', { version: '1.0.0', contentType: OPENMETRICS_CONTENT_TYPE }]
])

interface MediaRange { type: string, version: string | undefined, q: number }

function mediaRange (range: string): MediaRange {
  const [type = '', ...params] = range.split(';')
  const parsed: MediaRange = { type: type.trim().toLowerCase(), version: undefined, q: 1 }
  for (const param of params) {
    const [key = '', value = ''] = param.split('=', 2).map((part) => part.trim())
    const unquoted = value.replace(/^"(.*)"$/, '$1')
    if (key.toLowerCase() === 'version') parsed.version = unquoted
    else if (key.toLowerCase() === 'q') parsed.q = Number(unquoted)
  }
  return parsed
}

/**
 * The format for an Accept header, decided as client_golang's NegotiateIncludingOpenMetrics
 * does: ranges by q-value, and the first whose type and version are served wins; any other
 * parameter (Prometheus 3's `escaping=allow-utf-8`: every name here is a legacy one, valid under
 * any escaping) is ignored. A range with q=0 (or a q that is not a number) is refused.
 */
function mediaType (accept: string): ContentType {
  const ranges = accept.split(',').map(mediaRange).filter((range) => range.q > 0)
  // Array.prototype.sort is stable: among equal q-values the header's order stands.
  ranges.sort((a, b) => b.q - a.q)
  for (const range of ranges) {
    const served = SERVED.get(range.type)
    if (served !== undefined && (range.version === undefined || range.version === served.version)) return served.contentType
  }
  return TEXT_CONTENT_TYPE
}

export interface Negotiated {
  contentType: ContentType
  gzip: boolean
}

/**
 * Picks the exposition format and encoding from the request headers, honouring q-values.
 * Like Prometheus' own handler, a request that accepts neither format still gets text.
 */
export function negotiate (headers: { accept?: string | undefined, 'accept-encoding'?: string | undefined }): Negotiated {
  const accept = headers.accept ?? '*/*'
  const acceptEncoding = headers['accept-encoding'] ?? 'identity'
  // A scraper sends the same headers every time: the last answer is kept.
  if (accept !== last.accept || acceptEncoding !== last.acceptEncoding) {
    const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding } })
    last = { accept, acceptEncoding, negotiated: { contentType: mediaType(accept), gzip: negotiator.encoding(OFFERED_ENCODINGS) === 'gzip' } }
  }
  return last.negotiated
}

let last = { accept: '*/*', acceptEncoding: 'identity', negotiated: { contentType: TEXT_CONTENT_TYPE as ContentType, gzip: false } }

interface Gathered { name: string, type: string }

/** What prom-client's Registry reads of a registered metric; its typings leave these out. */
interface RegisteredMetric extends Gathered {
  get: () => Promise<Gathered>
  getForPromString?: () => Promise<Gathered>
}

// prom-client's typings declare no constructor argument, though the content type is one.
const RegistryOf = Registry as unknown as new (contentType: ContentType) => Registry

/**
 * A stand-in for one registered metric, presenting it as the target format names it.
 * prom-client's OpenMetrics rendering renames counters on the metric objects themselves
 * (it strips `_total` for good), so a shared registry is never rendered in that mode:
 * a throwaway registry of these views is.
 */
function viewFor (metric: RegisteredMetric, contentType: ContentType): Metric {
  const rename = contentType === OPENMETRICS_CONTENT_TYPE && metric.type === 'counter'
  const present = <T extends Gathered>(gathered: T): T => rename ? { ...gathered, name: gathered.name.replace(/_total$/, '') } : gathered
  const view: RegisteredMetric = {
    name: present(metric).name,
    type: metric.type,
    get: async () => present(await metric.get()),
    getForPromString: metric.getForPromString && (async () => present(await metric.getForPromString!()))
  }
  return view as unknown as Metric
}

/** What prom-client's Registry has but its typings leave out. */
interface RegistryInternals {
  _defaultLabels: Record<string, string | number>
  getMetricsAsString: (metric: Metric) => Promise<string>
}

/**
 * Renders every metric of `registry` in `contentType`, in registration order, without changing
 * the registry, as prom-client's `registry.metrics()` would. This package's families write their
 * own text (text-format.ts); any other metric (a user's) is written by prom-client: by the
 * registry itself in text, by a throwaway registry of views otherwise. The text comes at once
 * when every family is this package's; a promise only when another metric is registered.
 */
export function render (registry: Registry, contentType: ContentType): string | Promise<string> {
  const openMetrics = contentType === OPENMETRICS_CONTENT_TYPE
  // prom-client keeps default labels in a field with no getter.
  const defaults = (registry as unknown as RegistryInternals)._defaultLabels
  const defaultLabels = Object.keys(defaults).length > 0 ? defaults : undefined
  let writer: RegistryInternals | undefined
  const foreign = async (metric: Metric): Promise<string> => {
    if (!openMetrics && registry.contentType === TEXT_CONTENT_TYPE) return await (registry as unknown as RegistryInternals).getMetricsAsString(metric)
    if (writer === undefined) {
      writer = new RegistryOf(contentType) as unknown as RegistryInternals
      ;(writer as unknown as Registry).setDefaultLabels(defaults)
    }
    return await writer.getMetricsAsString(viewFor(metric as unknown as RegisteredMetric, contentType))
  }
  const metrics: unknown[] = registry.getMetricsAsArray()
  const texts = metrics.map((metric) => metric instanceof ScrapeTimeMetric ? metric.exposition(openMetrics, defaultLabels) : foreign(metric as Metric))
  const join = (families: string[]): string => openMetrics ? `${families.join('\n')}\n# EOF\n` : `${families.join('\n\n')}\n`
  // Most families are written at once; waiting only when one is not saves a promise per family.
  return texts.every((text) => typeof text === 'string') ? join(texts) : Promise.all(texts).then(join)
}

// Up to this size, gzip on the event loop costs less (tens of µs for the default output) than
// handing the work to the thread pool and back (about 0.2 ms of CPU); above it, a synchronous
// gzip would hold the event loop for milliseconds, so the thread pool does it.
const SYNC_GZIP_LIMIT = 64 * 1024

/**
 * The body as it goes on the wire, at once unless a large body is compressed on the thread pool.
 * Uncompressed, it stays a string: node:http writes it in one piece with the headers, where a
 * Buffer would cost a copy first.
 */
export function encode (body: string, useGzip: boolean): Buffer | string | Promise<Buffer> {
  if (!useGzip) return body
  return body.length <= SYNC_GZIP_LIMIT ? gzipSync(body) : gzip(body)
}

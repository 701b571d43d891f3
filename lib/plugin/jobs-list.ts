import type { Build, BuildTracker } from '../tracker/build-tracker.js'
import { cutShort, escapeJson, printable, quote } from '../tracker/describe.js'
import { Coalescer, atCheckPhase } from './coalescer.js'

export const JOBS_LIST_VERSION = '2'

/**
 * Builds listed at most, oldest first: ten times a large manager's `concurrent`. Typical builds
 * take about 150 bytes a line, 1.5 MB in all (docs/build-lifecycle.md has the measurements).
 */
const MAX_LISTED = 10_000
/**
 * Bytes of builds listed at most (lines of text, or JSON entries). Typical builds reach
 * MAX_LISTED first; builds whose every field needs escapes reach this, so the rendering costs
 * about as much as a typical list (escapes are what it spends its time on) and the answer stays
 * a few megabytes, where 10,000 such lines would take 60 MB and seconds.
 */
export const MAX_BYTES = 4 * 1024 * 1024
/** UTF-16 units of an id, url, runner name or stage listed at most: a 100 kB id is accepted by `start`. */
const MAX_FIELD = 256

/** What may stand bare in a `key=value` line: no space (`\s` covers U+2028 and U+2029), `"`, `=` or `\`. */
const PLAIN = /^[^\s"=\\]+$/

export interface JobEntry {
  id: string
  /** The job's web URL, when the build was started with one. */
  url?: string
  runner: string
  state: string
  stage: string
  duration_seconds: number
  /** Seconds in the current stage so far; earlier stages are in runner_build_stage_duration_seconds. */
  stage_duration_seconds: number
}

export type ListFormat = 'text' | 'json'

/** One rendering of the list, shared by the requests that asked for it together. */
export interface RenderedList {
  contentType: string
  body: Buffer
  /** Builds live when it was rendered, listed or not. */
  total: number
}

function entry (build: Build): JobEntry {
  const { url } = build
  return {
    id: cutShort(build.id, MAX_FIELD),
    ...(url === undefined ? {} : { url: cutShort(url, MAX_FIELD) }),
    runner: cutShort(build.runner, MAX_FIELD),
    state: build.state,
    stage: cutShort(build.stage, MAX_FIELD),
    duration_seconds: build.duration,
    stage_duration_seconds: build.stageDuration
  }
}

/** A value cut short, then bare when it can neither break the line apart nor act on a terminal; else quoted as every display of a name is. */
function field (value: string): string {
  const shown = cutShort(value, MAX_FIELD)
  return PLAIN.test(shown) && printable(shown) ? shown : quote(shown)
}

/**
 * The oldest builds, each shown by `show`, joined by `separator`: as many as fit MAX_LISTED and
 * MAX_BYTES; and how many that is.
 */
function oldest (tracker: BuildTracker, show: (build: Build) => string, separator: string): { shown: string, listed: number } {
  let shown = ''
  let listed = 0
  let bytes = 0
  for (const build of tracker.liveBuilds()) {
    if (listed === MAX_LISTED) break
    const text = show(build)
    bytes += Buffer.byteLength(text)
    if (bytes > MAX_BYTES) break
    shown += listed++ === 0 ? text : `${separator}${text}`
  }
  return { shown, listed }
}

/** A line in the shape of GitLab Runner's `/debug/jobs/list`, with its `url=` when known. */
function line (build: Build): string {
  const { url } = build
  return `id=${field(build.id)} ${url === undefined ? '' : `url=${field(url)} `}runner=${field(build.runner)} state=${build.state} stage=${cutShort(build.stage, MAX_FIELD)} duration=${build.duration.toFixed(3)}s\n`
}

/**
 * One line per live build, oldest first; when some are left out, a last line that starts with
 * `#` and holds no `=`, so no parser of the lines takes it for a build.
 */
function text (tracker: BuildTracker, total: number): string {
  const { shown, listed } = oldest(tracker, line, '')
  return listed < total ? `${shown}# ${total - listed} more builds not listed: ${total} live, the oldest ${listed} listed\n` : shown
}

/** `builds_total` counts the live builds, listed or not. */
function json (tracker: BuildTracker, total: number): string {
  const { shown } = oldest(tracker, (build) => escapeJson(JSON.stringify(entry(build))), ',')
  return `{"builds":[${shown}],"builds_total":${total}}`
}

function render (tracker: BuildTracker, format: ListFormat): RenderedList {
  const total = tracker.liveCount
  return format === 'json'
    ? { contentType: 'application/json; charset=utf-8', body: Buffer.from(json(tracker, total)), total }
    : { contentType: 'text/plain; charset=utf-8', body: Buffer.from(text(tracker, total)), total }
}

/**
 * The list in `format`, rendered at the turn's check phase (see atCheckPhase) and shared, as a
 * scrape is: requests that arrive together cost one rendering, and each is sent the same bytes.
 */
export function jobsList (tracker: BuildTracker): (format: ListFormat) => Promise<RenderedList> {
  const renderings = new Coalescer<ListFormat, RenderedList>()
  return async (format) => await renderings.run(format, async () => await atCheckPhase(() => render(tracker, format)))
}

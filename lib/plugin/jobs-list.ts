import type { Build, BuildTracker } from '../tracker/build-tracker.js'

export const JOBS_LIST_VERSION = '2'

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

function entry (build: Build): JobEntry {
  return {
    id: build.id,
    ...(build.url === undefined ? {} : { url: build.url }),
    runner: build.runner,
    state: build.state,
    stage: build.stage,
    duration_seconds: build.duration,
    stage_duration_seconds: build.stageDuration
  }
}

// Unicode's Cc (C0 controls, DEL, C1 controls: ESC sequences, BEL, NEL...), Cf (bidi overrides,
// tag characters) and the line and paragraph separators: a terminal or a reader acts on them.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

/** `\xNN` for a character up to U+00FF, `\u{...}` above. */
function escapeCharacter (character: string): string {
  const code = character.codePointAt(0)!
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`
}

/**
 * A value quoted only when it would break the `key=value` line apart or holds a character a
 * terminal or reader acts on; inside quotes, `\` and `"` are escaped and those characters are
 * shown as escapes, so what a build id, url or runner name says is printed, never executed.
 */
function field (value: string): string {
  if (/^[^\s"=\\\p{Cc}\p{Cf}]+$/u.test(value)) return value // \s covers U+2028 and U+2029
  return `"${value.replace(/[\\"]/g, '\\$&').replace(UNPRINTABLE, escapeCharacter)}"`
}

/** One line per live build, oldest first, in the shape of GitLab Runner's `/debug/jobs/list` (its `url=` when known). */
export function jobsListText (tracker: BuildTracker): string {
  let text = ''
  for (const build of tracker.liveBuilds()) {
    text += `id=${field(build.id)} ${build.url === undefined ? '' : `url=${field(build.url)} `}runner=${field(build.runner)} state=${build.state} stage=${build.stage} duration=${build.duration.toFixed(3)}s\n`
  }
  return text
}

export function jobsListJson (tracker: BuildTracker): { builds: JobEntry[] } {
  return { builds: Array.from(tracker.liveBuilds(), entry) }
}

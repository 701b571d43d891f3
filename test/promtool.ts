import { spawnSync } from 'node:child_process'

/**
 * promtool, or why it cannot run. CI sets REQUIRE_PROMTOOL=1 so that a missing promtool
 * fails there instead of being skipped.
 */
export function findPromtool (): { path: string } | { skip: string } {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.status === 0) return { path: 'promtool' }
  const reason = 'promtool is not installed (apt-get install -y prometheus): this check did not run'
  if (process.env.REQUIRE_PROMTOOL === '1') throw new Error(`${reason}, and REQUIRE_PROMTOOL=1 demands it`)
  return { skip: reason }
}

export function runPromtool (args: string[], input?: string | Buffer): { status: number | null, output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

import { readdir, readFile } from 'node:fs/promises'
import type { Registry } from 'prom-client'
import { oncePerScrape, registerFamily, type Sample } from './scrape-time-metric.js'

/** A number out of a /proc file, as the kernel writes it ("VmSize:   1234 kB"). */
function field (text: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** A sample per value found; none where /proc is missing (every system but Linux). */
function gauge (value: number | undefined): Sample[] {
  return value === undefined ? [] : [{ labels: {}, value }]
}

/**
 * The value, or none when it cannot be read now: Node reads resident memory from /proc, which
 * fails with EMFILE exactly when every descriptor is in use. A scrape then leaves it out, as
 * prom-client does, and still answers.
 */
function readable (read: () => number): number | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}

async function procText (file: string): Promise<string> {
  return await readFile(file, 'utf8').catch(() => '')
}

/**
 * process_* metrics, under the names and meanings of Prometheus' client libraries: CPU,
 * memory, file descriptors, start time. The /proc files are read asynchronously, once per
 * scrape however many families use them, so a scrape never blocks the event loop on them.
 */
export function registerProcessMetrics (registry: Registry): void {
  const startTime = Math.round(Date.now() / 1000 - process.uptime())
  const cpu = oncePerScrape(() => process.cpuUsage())
  const status = oncePerScrape(async () => await procText('/proc/self/status'))
  const cpuSeconds = (micros: (usage: NodeJS.CpuUsage) => number) => () => [{ labels: {}, value: micros(cpu()) / 1e6 }]

  registerFamily(registry, { name: 'process_cpu_user_seconds_total', help: 'Total user CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.user) })
  registerFamily(registry, { name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.system) })
  registerFamily(registry, { name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.user + usage.system) })
  registerFamily(registry, { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', type: 'gauge', read: () => [{ labels: {}, value: startTime }] })
  registerFamily(registry, { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', read: () => gauge(readable(() => process.memoryUsage.rss())) })
  registerFamily(registry, {
    name: 'process_virtual_memory_bytes',
    help: 'Virtual memory size in bytes.',
    type: 'gauge',
    read: async () => gauge(kilobytes(field(await status(), /^VmSize:\s*(\d+) kB$/m)))
  })
  registerFamily(registry, {
    name: 'process_heap_bytes',
    help: 'Process heap size in bytes.',
    type: 'gauge',
    read: async () => gauge(kilobytes(field(await status(), /^VmData:\s*(\d+) kB$/m)))
  })
  registerFamily(registry, {
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    type: 'gauge',
    // Less the descriptor that reading the folder itself holds open.
    read: async () => gauge(await readdir('/proc/self/fd').then((entries) => entries.length - 1, () => undefined))
  })
  registerFamily(registry, {
    name: 'process_max_fds',
    help: 'Maximum number of open file descriptors.',
    type: 'gauge',
    read: async () => gauge(field(await procText('/proc/self/limits'), /^Max open files\s+(\d+)/m))
  })
}

function kilobytes (value: number | undefined): number | undefined {
  return value === undefined ? undefined : value * 1024
}

import { readdirSync } from 'node:fs'
import type { Registry } from 'prom-client'
import { NO_LABELS } from '../text-format.js'
import { ProcFile } from './proc-file.js'
import { oncePerScrape, registerFamily, type Sample, type Sampler } from './scrape-time-metric.js'

/** A number out of a /proc file, as the kernel writes it ("VmSize:   1234 kB"). */
function field (text: string | undefined, pattern: RegExp): number | undefined {
  const match = text === undefined ? null : pattern.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** A sample per value found; none where it cannot be read. */
function gauge (value: number | undefined): Sample[] {
  return value === undefined ? [] : [{ labels: NO_LABELS, value }]
}

/**
 * Memory in bytes from /proc/self/statm, whose few numbers the kernel writes in a fraction of the
 * time /proc/self/status takes (a tenth of a scrape). statm counts pages, and its `data` is
 * status' VmData plus VmStk, the main thread's stack: both are learnt from one read of the
 * status file. The stack only grows, by at most V8's stack limit (about 1 MB), rarely.
 */
class Memory {
  readonly #statm: ProcFile
  #scale: { pageSize: number, stack: number } | undefined

  constructor (statm: ProcFile) {
    this.#statm = statm
  }

  /** Virtual, resident and data (prom-client's heap) bytes now; undefined where they cannot be read. */
  read (): { virtual: number, resident: number, data: number } | undefined {
    const pages = this.#statm.text()?.split(' ').map(Number)
    if (pages === undefined || pages.length < 6) return undefined
    const scale = this.#scale ??= scaleOf(pages[0]!)
    if (scale === undefined) return undefined
    return { virtual: pages[0]! * scale.pageSize, resident: pages[1]! * scale.pageSize, data: pages[5]! * scale.pageSize - scale.stack }
  }
}

/** The page size (VmSize over statm's size, to the nearest power of two) and VmStk, from the status file. */
function scaleOf (sizeInPages: number): { pageSize: number, stack: number } | undefined {
  const status = new ProcFile('/proc/self/status').text()
  const kilobytes = (name: string): number | undefined => field(status, new RegExp(`^${name}:\\s*(\\d+) kB$`, 'm'))
  const [size, stack] = [kilobytes('VmSize'), kilobytes('VmStk')]
  if (size === undefined || stack === undefined || !(sizeInPages > 0)) return undefined
  return { pageSize: 2 ** Math.round(Math.log2(size * 1024 / sizeInPages)), stack: stack * 1024 }
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

/**
 * Open descriptors. Linux 6.2 and later give the count as the size of /proc/self/fd, with no
 * listing; older kernels say 0 there, and the folder is listed (less the descriptor the listing
 * itself holds open).
 */
function openFds (fdFolder: ProcFile): number | undefined {
  const size = fdFolder.size()
  if (size !== undefined && size > 0) return size
  return readable(() => readdirSync('/proc/self/fd').length - 1)
}

/**
 * process_* metrics, under the names and meanings of Prometheus' client libraries: CPU,
 * memory, file descriptors, start time. /proc/self/statm is read once per scrape however many
 * families use it, synchronously into a small reused buffer. Returns what starts holding the
 * /proc files open between scrapes (see proc-file.ts), and returns what closes them.
 */
export function registerProcessMetrics (registry: Registry): Sampler {
  const startTime = Math.round(Date.now() / 1000 - process.uptime())
  const files = { statm: new ProcFile('/proc/self/statm'), limits: new ProcFile('/proc/self/limits'), fds: new ProcFile('/proc/self/fd') }
  const cpu = oncePerScrape(() => process.cpuUsage())
  const memory = new Memory(files.statm)
  const bytes = oncePerScrape(() => memory.read())
  const cpuSeconds = (micros: (usage: NodeJS.CpuUsage) => number) => () => [{ labels: NO_LABELS, value: micros(cpu()) / 1e6 }]

  registerFamily(registry, { name: 'process_cpu_user_seconds_total', help: 'Total user CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.user) })
  registerFamily(registry, { name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.system) })
  registerFamily(registry, { name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', type: 'counter', read: cpuSeconds((usage) => usage.user + usage.system) })
  registerFamily(registry, { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', type: 'gauge', aggregator: 'omit', read: () => [{ labels: NO_LABELS, value: startTime }] })
  registerFamily(registry, {
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    type: 'gauge',
    // Node's own reading where there is no /proc.
    read: () => gauge(bytes()?.resident ?? readable(() => process.memoryUsage.rss()))
  })
  registerFamily(registry, { name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.', type: 'gauge', read: () => gauge(bytes()?.virtual) })
  registerFamily(registry, { name: 'process_heap_bytes', help: 'Process heap size in bytes.', type: 'gauge', read: () => gauge(bytes()?.data) })
  registerFamily(registry, { name: 'process_open_fds', help: 'Number of open file descriptors.', type: 'gauge', read: () => gauge(openFds(files.fds)) })
  registerFamily(registry, {
    name: 'process_max_fds',
    help: 'Maximum number of open file descriptors.',
    type: 'gauge',
    read: () => gauge(field(files.limits.text(), /^Max open files\s+(\d+)/m))
  })
  return () => {
    for (const file of Object.values(files)) file.hold()
    return () => { for (const file of Object.values(files)) file.release() }
  }
}

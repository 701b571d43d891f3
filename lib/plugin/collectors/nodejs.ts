import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8'
import type { Registry } from 'prom-client'
import { NO_LABELS } from '../text-format.js'
import { reusedByKey } from './reused-labels.js'
import { oncePerScrape, registerFamily, type Sample } from './scrape-time-metric.js'

// Handle and resource types and heap spaces are a few dozen names, fixed by Node and the app's code.
const typeLabels = reusedByKey((type: string) => ({ type }), 1000)
const spaceLabels = reusedByKey((name: string) => ({ space: name.replace(/_space$/, '') }), 1000)

/** How many of each kind: the `type` label of the nodejs_active_* gauges. */
function byType (names: string[]): Sample[] {
  const counts = new Map<string, number>()
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1)
  return Array.from(counts, ([type, value]) => ({ labels: typeLabels(type), value }))
}

// Node's own (underscored, undocumented but long-standing) lists, as prom-client reads them.
const internals = process as unknown as { _getActiveHandles: () => object[], _getActiveRequests: () => object[] }

/** A gauge by type and its total; the total's name does not end in `_total`, which promtool keeps for counters. */
function activeFamilies (registry: Registry, name: string, what: string, help: string, list: () => string[]): void {
  const read = oncePerScrape(list)
  registerFamily(registry, { name, help, type: 'gauge', read: () => byType(read()) })
  registerFamily(registry, { name: `${name}_all`, help: `Total number of active ${what}.`, type: 'gauge', read: () => [{ labels: NO_LABELS, value: read().length }] })
}

/** nodejs_* metrics: heap, heap spaces, external memory, active handles, requests and resources, version. */
export function registerNodejsMetrics (registry: Registry): void {
  const heap = oncePerScrape(getHeapStatistics)
  const spaces = oncePerScrape(getHeapSpaceStatistics)
  registerFamily(registry, { name: 'nodejs_heap_size_total_bytes', help: 'Process heap size from Node.js in bytes.', type: 'gauge', read: () => [{ labels: NO_LABELS, value: heap().total_heap_size }] })
  registerFamily(registry, { name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.', type: 'gauge', read: () => [{ labels: NO_LABELS, value: heap().used_heap_size }] })
  registerFamily(registry, { name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.', type: 'gauge', read: () => [{ labels: NO_LABELS, value: heap().external_memory }] })
  for (const [kind, field] of [['total', 'space_size'], ['used', 'space_used_size'], ['available', 'space_available_size']] as const) {
    registerFamily(registry, {
      name: `nodejs_heap_space_size_${kind}_bytes`,
      help: `Process heap space size ${kind} from Node.js in bytes.`,
      type: 'gauge',
      read: () => spaces().map((space) => ({ labels: spaceLabels(space.space_name), value: space[field] }))
    })
  }
  activeFamilies(registry, 'nodejs_active_handles', 'handles', 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.', () => internals._getActiveHandles().map((handle) => handle.constructor.name))
  activeFamilies(registry, 'nodejs_active_requests', 'requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', () => internals._getActiveRequests().map((request) => request.constructor.name))
  activeFamilies(registry, 'nodejs_active_resources', 'resources', 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', () => process.getActiveResourcesInfo())
  const [major, minor, patch] = process.versions.node.split('.').map(Number)
  const version = [{ labels: { version: process.version, major: major!, minor: minor!, patch: patch! }, value: 1 }]
  registerFamily(registry, { name: 'nodejs_version_info', help: 'Node.js version info.', type: 'gauge', aggregator: 'first', read: () => version })
}

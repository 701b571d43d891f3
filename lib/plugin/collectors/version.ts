import type { Registry } from 'prom-client'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../../package.js'
import type { Rename } from '../naming.js'
import { registerFamily } from './scrape-time-metric.js'

export const VERSION_LABELS = ['name', 'version', 'revision', 'branch', 'node_version', 'built_at', 'os', 'architecture'] as const
export type VersionInfo = Partial<Record<typeof VERSION_LABELS[number], string>>

/** This package's own build information: what the standalone server reports unless told otherwise. */
export function defaultVersionInfo (): Required<VersionInfo> {
  return {
    name: PACKAGE_NAME,
    version: PACKAGE_VERSION,
    revision: 'unknown',
    branch: 'unknown',
    node_version: process.version,
    built_at: 'unknown',
    os: process.platform,
    architecture: process.arch
  }
}

/** `runner_version_info`: constant 1, the build information in its labels. */
export function registerVersionMetric (registry: Registry, rename: Rename, info: VersionInfo = {}): void {
  const labels = { ...defaultVersionInfo(), ...info }
  registerFamily(registry, {
    name: rename('runner_version_info'),
    help: 'Build information of the runner manager: constant 1, the information is in the labels.',
    type: 'gauge',
    aggregator: 'first',
    read: () => [{ labels, value: 1 }]
  })
}

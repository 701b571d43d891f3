import Fastify, { type FastifyInstance } from 'fastify'
import runnerMetrics, { type RunnerMetricsOptions } from '../lib/index.js'

/** Samples of an exposition body, keyed as written: `name{label="value",...}`. */
export type Samples = Map<string, number>

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/

export function parseSamples (body: string): Samples {
  const samples: Samples = new Map()
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE_LINE.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    samples.set(match[1]!, Number(match[2]))
  }
  return samples
}

/** The series key for `name` with `labels` in the order given. */
export function series (name: string, labels: Record<string, string | number> = {}): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`
}

/** Every sample of `name` (any labels). */
export function samplesOf (samples: Samples, name: string): Map<string, number> {
  return new Map([...samples].filter(([key]) => key === name || key.startsWith(`${name}{`)))
}

export async function appWith (options: RunnerMetricsOptions = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(runnerMetrics, options)
  await app.ready()
  return app
}

export async function scrape (app: FastifyInstance, url = '/metrics'): Promise<Samples> {
  const response = await app.inject(url)
  if (response.statusCode !== 200) throw new Error(`scrape answered ${response.statusCode}: ${response.body}`)
  return parseSamples(response.body)
}

/** Resolves once `condition` holds, checking at every turn of the event loop. */
export async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve))
}

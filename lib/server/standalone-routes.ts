import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { VersionInfo } from '../plugin/collectors/version.js'
import { DEFAULT_JOBS_LIST_PATH } from '../plugin/options.js'

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`)
}

/**
 * The landing page and health endpoints of the standalone server, as Prometheus exporters have
 * them. Ready means serving: once shutdown starts the listener is closed, so there is no
 * "not ready" answer to give.
 */
export function registerStandaloneRoutes (app: FastifyInstance, version: Required<VersionInfo>): void {
  const landing = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Runner manager metrics</title></head>
<body>
<h1>Runner manager metrics</h1>
<p>${escapeHtml(version.name)} ${escapeHtml(version.version)}</p>
<ul>
<li><a href="metrics">metrics</a></li>
<li><a href="debug/jobs/list">running builds</a> (${escapeHtml(DEFAULT_JOBS_LIST_PATH)})</li>
<li><a href="-/healthy">health</a></li>
<li><a href="-/ready">readiness</a></li>
</ul>
</body>
</html>
`
  app.get('/', async (request, reply) => reply.type('text/html; charset=utf-8').send(landing))
  app.get('/-/healthy', async (request, reply) => reply.type('text/plain; charset=utf-8').send('Healthy.\n'))
  const ready = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => await reply.type('text/plain; charset=utf-8').send('Ready.\n')
  app.get('/-/ready', ready)
  // GitLab Runner's readiness path, so probes written for it work unchanged.
  app.get('/health/ready', ready)
}

import { parseArgs } from 'node:util'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../package.js'
import { startMetricsServer } from './metrics-server.js'
import { parseNaming, type Naming } from '../plugin/naming.js'

const NAME = PACKAGE_NAME
const USAGE = `usage: ${NAME} [--config PATH] [--metrics-server ADDR] [--web-config-file PATH] [--help] [--version] [--naming runner|gitlab-runner]`
const HELP = `${USAGE}

The metrics server of a CI runner manager: Prometheus metrics of its builds, its
version and its Node.js process, served where metrics_server says.

  -c, --config PATH          GitLab Runner style config.toml (default ./config.toml)
      --metrics-server ADDR  listen address, overrides METRICS_SERVER and the config:
                             host:port, :port, [ipv6]:port or host (port 9252)
      --web-config-file PATH exporter-toolkit web-config.yml (TLS, basic auth,
                             headers), overrides the config's web_config_file
      --naming NAMING        metric names: runner (runner_*, the default) or
                             gitlab-runner (GitLab Runner's gitlab_runner_*),
                             overrides the config's metrics_naming
  -h, --help                 this text
  -v, --version              the version

Signals: SIGHUP reloads the config and the web config (a new address is bound
before the old one closes; a bad config keeps the old one). SIGTERM or SIGINT: finish scrapes, exit 0.`

function fail (message: string, code: number): never {
  process.stderr.write(`${NAME}: ${message}\n`)
  process.exit(code)
}

function parseFlags (): { config: string, metricsServer: string | undefined, webConfigFile: string | undefined, naming: Naming | undefined } {
  try {
    const { values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: 'config.toml' },
        'metrics-server': { type: 'string' },
        'web-config-file': { type: 'string' },
        naming: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      },
      strict: true,
      allowPositionals: false
    })
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`)
      process.exit(0)
    }
    if (values.version === true) {
      process.stdout.write(`${NAME} ${PACKAGE_VERSION}\n`)
      process.exit(0)
    }
    const fromEnv = process.env.METRICS_SERVER === '' ? undefined : process.env.METRICS_SERVER
    const naming = values.naming === undefined ? undefined : parseNaming(values.naming, '--naming')
    return { config: values.config, metricsServer: values['metrics-server'] ?? fromEnv, webConfigFile: values['web-config-file'], naming }
  } catch (error) {
    return fail(`${(error as Error).message.split('\n', 1)[0]}\n${USAGE}`, 2)
  }
}

/** The standalone command: flags, start, signals. */
export async function main (): Promise<void> {
  const flags = parseFlags()
  // Whatever stops the start is reported as one line: config and listen errors are written for the operator.
  const server = await startMetricsServer({ configFile: flags.config, metricsServer: flags.metricsServer, webConfigFile: flags.webConfigFile, naming: flags.naming })
    .catch((error: Error) => fail(error.message, 1))
  // Signal handlers alone do not keep Node running, and a disabled server listens on nothing.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  // reload() reports failures itself (a log line and a counter) and never rejects.
  process.on('SIGHUP', () => server.reload())
  const stop = (signal: string): void => {
    server.app.log.info(`${signal} received: finishing in-flight requests, then exiting`)
    server.close().then(() => {
      clearInterval(keepAlive)
      process.exit(0)
    })
  }
  // Once: a second signal gets Node's default handling, which ends the process at once.
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

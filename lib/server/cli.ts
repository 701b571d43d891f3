import { parseArgs } from 'node:util'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../package.js'
import { startMetricsServer } from './metrics-server.js'
import { parseNaming, type Naming } from '../plugin/naming.js'
import { signalExitCode, type HeldSignals } from './signals.js'

const NAME = PACKAGE_NAME
const USAGE = `usage: ${NAME} [--config PATH] [--metrics-server ADDR] [--web-config-file PATH] [--help] [--version] [--naming runner|gitlab-runner]`
/** An empty environment variable counts as not set (`METRICS_SERVER= node dist/server.js` unsets it). */
const env = (name: string): string | undefined => process.env[name] === '' ? undefined : process.env[name]
const HELP = `${USAGE}

The metrics server of a CI runner manager: Prometheus metrics of its builds, its
version and its Node.js process, served where metrics_server says.

  -c, --config PATH          GitLab Runner style config.toml (default ./config.toml)
      --metrics-server ADDR  listen address, overrides METRICS_SERVER and the config:
      --listen-address ADDR  host:port, :port, [ipv6]:port or host (port 9252);
                             two names (GitLab Runner's old and new) of one flag,
                             as METRICS_SERVER and LISTEN_ADDRESS are of one variable
      --web-config-file PATH exporter-toolkit web-config.yml (TLS, basic auth,
                             headers), overrides the config's web_config_file
      --naming NAMING        metric names: runner (runner_*, the default) or
                             gitlab-runner (GitLab Runner's gitlab_runner_*),
                             overrides the config's metrics_naming
  -h, --help                 this text
  -v, --version              the version

Signals: SIGHUP reloads the config and the web config, all or nothing (a new
address is bound before the old one closes; a bad config keeps the old one).
SIGTERM or SIGINT: finish scrapes, exit 0; a second one exits at once (128 + signal).`

function fail (message: string, code: number): never {
  process.stderr.write(`${NAME}: ${message}\n`)
  process.exit(code)
}

/** The value of a setting with two names; both may be given when they agree. */
function either (a: string | undefined, b: string | undefined, disagree: () => never): string | undefined {
  if (a !== undefined && b !== undefined && a !== b) disagree()
  return a ?? b
}

function parseFlags (): { config: string, metricsServer: string | undefined, webConfigFile: string | undefined, naming: Naming | undefined } {
  try {
    const { values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: 'config.toml' },
        'metrics-server': { type: 'string' },
        'listen-address': { type: 'string' },
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
    const flag = either(values['metrics-server'], values['listen-address'], () => {
      throw new Error('--metrics-server and --listen-address are the same option and disagree; give one of them')
    })
    const fromEnv = either(env('METRICS_SERVER'), env('LISTEN_ADDRESS'), () => fail('METRICS_SERVER and LISTEN_ADDRESS are the same setting and disagree; set one of them', 1))
    const naming = values.naming === undefined ? undefined : parseNaming(values.naming, '--naming')
    return { config: values.config, metricsServer: flag ?? fromEnv, webConfigFile: values['web-config-file'], naming }
  } catch (error) {
    return fail(`${(error as Error).message.split('\n', 1)[0]}\n${USAGE}`, 2)
  }
}

/** The standalone command: flags, start, signals (caught from the first moment by `signals`). */
export async function main (signals: HeldSignals): Promise<void> {
  const flags = parseFlags()
  // Whatever stops the start is reported as one line: config and listen errors are written for the operator.
  const server = await startMetricsServer({ configFile: flags.config, metricsServer: flags.metricsServer, webConfigFile: flags.webConfigFile, naming: flags.naming })
    .catch((error: Error) => fail(error.message, 1))
  // Signal handlers alone do not keep Node running, and a disabled server listens on nothing.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  signals.handle({
    // reload() reports failures itself (a log line and a counter) and never rejects.
    reload: () => server.reload(),
    stop: (signal) => {
      server.app.log.info(`${signal} received: finishing in-flight requests, then exiting`)
      // finally: nothing a close could throw may keep the process from ending.
      server.close().finally(() => {
        clearInterval(keepAlive)
        process.exit(0)
      })
    },
    stopNow: (signal) => {
      server.app.log.warn(`${signal} received while stopping: exiting now`)
      process.exit(signalExitCode(signal))
    }
  })
}

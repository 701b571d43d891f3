// Boilerplate of every bench server: listen on loopback, send the port to the parent,
// answer CPU-time queries, and stop when the parent goes away.

/** Reports `port` to the parent process once the server listens. */
export function announce (port) {
  process.on('message', (message) => {
    if (message?.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage(), memory: process.memoryUsage().rss })
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ type: 'ready', port })
}

/** Sends a startup failure to the parent and exits. */
export function fail (error) {
  process.send({ type: 'error', error: error?.stack ?? String(error) }, () => process.exit(1))
}

#!/usr/bin/env node
// The standalone command (`node dist/server.js`); the embeddable server is `./server/index.js`.
// Signal handlers first: loading the server takes a while, and an early SIGHUP must not end it.
import { holdSignals } from './server/signals.js'

const signals = holdSignals()
const { main } = await import('./server/cli.js')
await main(signals)

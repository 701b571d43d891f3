#!/usr/bin/env node
// The standalone command (`node dist/server.js`); the embeddable server is `./server/index.js`.
import { main } from './server/cli.js'

await main()

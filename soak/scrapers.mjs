// The scraping side of the soak: many concurrent scrapers in their own process. The server moves
// between two addresses; a scraper whose connection is refused or closed tries the other one
// at once, as a Prometheus with both targets would find the live one.
import { Agent, get } from 'node:http'

const { urls, concurrency, durationMs } = JSON.parse(process.argv[2])
let current = 0

const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
const counts = { served: 0, limited: 0, other: {}, retried: 0, failed: 0, failures: {}, bytes: 0 }
const deadline = Date.now() + durationMs

function scrape (url) {
  return new Promise((resolve) => {
    get(url, { agent }, (response) => {
      let size = 0
      response.on('data', (chunk) => { size += chunk.length })
      response.on('end', () => resolve({ status: response.statusCode, size }))
    }).on('error', (error) => resolve({ status: 0, size: 0, code: error.code ?? error.message }))
  })
}

async function worker () {
  while (Date.now() < deadline) {
    const target = current
    let { status, size, code } = await scrape(urls[target])
    if (status === 0) {
      // The other address first; then, a moment later, this one again (a flip may be under way).
      counts.retried++
      current = 1 - target;
      ({ status, size, code } = await scrape(urls[current]))
      if (status === 0) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        current = target;
        ({ status, size, code } = await scrape(urls[current]))
      }
    }
    if (status === 200) {
      counts.served++
      counts.bytes += size
    } else if (status === 503) {
      counts.limited++
    } else if (status === 0) {
      counts.failed++
      counts.failures[code] = (counts.failures[code] ?? 0) + 1
    } else {
      counts.other[status] = (counts.other[status] ?? 0) + 1
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker))
agent.destroy()
process.send({ done: counts }, () => process.disconnect())

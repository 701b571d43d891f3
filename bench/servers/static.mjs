// (d) the ceiling: node:http answering a prebuilt string as large as (a)'s body.
import { createServer } from 'node:http'
import { announce, fail } from './announce.mjs'

const size = Number(process.argv[2])
if (!Number.isInteger(size) || size < 1) fail(new Error(`body size must be a positive integer, got ${process.argv[2]}`))

// Exposition-looking lines, cut to exactly `size` bytes (ASCII, so characters are bytes).
const line = 'nodejs_heap_space_size_available_bytes{space="new_large_object"} 8388608\n'
const body = line.repeat(Math.ceil(size / line.length)).slice(0, size - 1) + '\n'
const headers = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }

const server = createServer((request, response) => {
  response.writeHead(200, headers)
  response.end(body)
})
server.on('error', fail)
server.listen(0, '127.0.0.1', () => announce(server.address().port))

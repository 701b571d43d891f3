import t from 'tap'
import { formatAddress, parseAddress } from '../lib/server/address.js'

t.test('every documented address form', async (t) => {
  t.same(parseAddress('127.0.0.1:9252'), { host: '127.0.0.1', port: 9252 })
  t.same(parseAddress('localhost:8080'), { host: 'localhost', port: 8080 })
  t.same(parseAddress(':9252'), { host: undefined, port: 9252 }, ':port is every interface')
  t.same(parseAddress('[::1]:9300'), { host: '::1', port: 9300 })
  t.same(parseAddress('[::1]'), { host: '::1', port: 9252 })
  t.same(parseAddress('metrics.internal'), { host: 'metrics.internal', port: 9252 }, 'a bare host gets port 9252')
  t.same(parseAddress('::1'), { host: '::1', port: 9252 }, 'a bare IPv6 address gets port 9252')
  t.same(parseAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 }, 'port 0 picks a free port')
})

t.test('bad addresses name the address and the problem', async (t) => {
  t.throws(() => parseAddress('127.0.0.1:99999'), /address "127.0.0.1:99999": port "99999" is not a port number \(0-65535\)/)
  t.throws(() => parseAddress('host:http'), /port "http" is not a port number/)
  t.throws(() => parseAddress('host:'), /port "" is not a port number/)
  t.throws(() => parseAddress('a:b:c'), /"a:b" is not a host name or IPv4 address \(an IPv6 address goes in brackets/)
  t.throws(() => parseAddress('[::1'), /expected \[ipv6\]:port/)
  t.throws(() => parseAddress('[nope]:1'), /expected \[ipv6\]:port/)
  t.throws(() => parseAddress('ho st:1'), /"ho st" is not a host name/)
  t.throws(() => parseAddress('  '), /address is empty/)
  t.throws(() => parseAddress('x'.repeat(301)), /address is too long/)
})

t.test('formatAddress brackets IPv6 and shows every-interface addresses', async (t) => {
  t.equal(formatAddress({ host: '::1', port: 1 }), '[::1]:1')
  t.equal(formatAddress({ host: '127.0.0.1', port: 2 }), '127.0.0.1:2')
  t.equal(formatAddress({ host: undefined, port: 3 }), '0.0.0.0:3')
})

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Certs {
  dir: string
  ca: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** A client certificate no configured CA signed. */
  strangerCert: string
  strangerKey: string
  /** A self-signed client certificate with no subject alternative names. */
  bareCert: string
  bareKey: string
  read: (file: string) => string
  cleanup: () => void
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' })
}

/** A CA, a server certificate for 127.0.0.1 and localhost, a client one from the CA and one from nobody. */
export function makeCerts (): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'frm-certs-'))
  const key = (name: string): void => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir)
  const signed = (name: string, subject: string, san: string, usage: string): void => {
    key(name)
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir)
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir)
  }
  key('ca')
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=test CA', '-days', '2', '-out', 'ca.crt'], dir)
  signed('server', '/CN=localhost', 'IP:127.0.0.1,DNS:localhost', 'serverAuth')
  signed('client', '/CN=prometheus', 'DNS:prometheus.scraper', 'clientAuth')
  key('stranger')
  openssl(['req', '-x509', '-new', '-key', 'stranger.key', '-subj', '/CN=stranger', '-days', '2', '-addext', 'subjectAltName=DNS:prometheus.scraper', '-out', 'stranger.crt'], dir)
  key('bare')
  openssl(['req', '-x509', '-new', '-key', 'bare.key', '-subj', '/CN=bare', '-days', '2', '-out', 'bare.crt'], dir)
  const path = (file: string): string => join(dir, file)
  return {
    dir,
    ca: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
    strangerCert: path('stranger.crt'),
    strangerKey: path('stranger.key'),
    bareCert: path('bare.crt'),
    bareKey: path('bare.key'),
    read: (file) => readFileSync(file, 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A client certificate signed by the CA of `certs`, with `altNames` as lines of an openssl
 * `[alt]` section (`DNS.1 = b.scraper`, `IP.1 = 2001:db8::1`, `dirName.1 = dir`); none: no SAN.
 */
export function clientCert (certs: Certs, name: string, altNames: string[] = []): { cert: string, key: string } {
  const { dir } = certs
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir)
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`], dir)
  const san = altNames.length === 0 ? '' : `subjectAltName=@alt\n[alt]\n${altNames.join('\n')}\n[dir]\nCN=prometheus.scraper\n`
  writeFileSync(join(dir, `${name}.ext`), `extendedKeyUsage=clientAuth\n${san}`)
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir)
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
}

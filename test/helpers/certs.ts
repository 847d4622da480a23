/**
 * Throw-away TLS material made with `openssl` in a temporary directory for one test file: a CA, a
 * server certificate for 127.0.0.1/localhost and a client certificate signed by it, and a self-signed
 * "rogue" client certificate the CA never signed. EC P-256, valid one day. `remove()` deletes it all.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A key and its certificate (PEM). */
export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

/** The material of {@link makeCerts}. */
export interface TestCerts {
  ca: Buffer;
  server: KeyPair;
  /** Signed by `ca`, CN = `clientCommonName`. */
  client: KeyPair;
  clientCommonName: string;
  /** Self-signed, CN = rogue. */
  rogue: KeyPair;
  remove(): Promise<void>;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 20_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes the certificates (a few openssl runs, ~100 ms). */
export async function makeCerts(clientCommonName = 'device-7'): Promise<TestCerts> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-certs-'));
  try {
    await openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=nest-mqtt5 test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    await writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    await writeFile(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn] of [['server', 'localhost'], ['client', clientCommonName]] as const) {
      await openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`], dir);
    }
    await openssl(['req', '-x509', ...EC, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '1', '-subj', '/CN=rogue'], dir);
    const read = (f: string): Promise<Buffer> => readFile(path.join(dir, f));
    return {
      ca: await read('ca.crt'),
      server: { key: await read('server.key'), cert: await read('server.crt') },
      client: { key: await read('client.key'), cert: await read('client.crt') },
      clientCommonName,
      rogue: { key: await read('rogue.key'), cert: await read('rogue.crt') },
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

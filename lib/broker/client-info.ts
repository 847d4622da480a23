/**
 * The frozen {@link ClientInfo} snapshot that hooks and events get instead of the live connection:
 * user code can read who the client is, but can reach neither the socket nor the session, and cannot
 * change what the broker knows (assignments throw in strict mode, and change nothing anyway).
 */
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import type { ClientInfo, PeerCertificateInfo, TransportKind } from './auth.js';
import type { ClientSocket } from './connection-contract.js';

function frozenFields(o: object): Readonly<Record<string, string | readonly string[]>> {
  const copy: Record<string, string | readonly string[]> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') copy[k] = v;
    else if (Array.isArray(v)) copy[k] = Object.freeze(v.map(String));
  }
  return Object.freeze(copy);
}

/** The verified peer certificate of a TLS socket, copied and frozen; undefined when there is none. */
export function peerCertificateInfo(socket: ClientSocket, transport: TransportKind): PeerCertificateInfo | undefined {
  if (transport !== 'tls') return undefined;
  const tls = socket as unknown as TLSSocket;
  if (!tls.authorized) return undefined;
  const cert: PeerCertificate | DetailedPeerCertificate | null = tls.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  return Object.freeze({
    subject: frozenFields(cert.subject ?? {}),
    issuer: frozenFields(cert.issuer ?? {}),
    subjectAltName: cert.subjectaltname,
    serialNumber: cert.serialNumber,
    fingerprint: cert.fingerprint,
    fingerprint256: cert.fingerprint256,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
  });
}

/**
 * The snapshot of a connection: taken once when the client identifies itself (and again only if its
 * identifier changes), so that the hot path (authorizePublish per PUBLISH) allocates nothing.
 */
export function clientSnapshot(
  socket: ClientSocket,
  transport: TransportKind,
  clientId: string,
  username: string | undefined,
  protocolVersion: number | undefined,
): ClientInfo {
  return Object.freeze({
    clientId,
    username,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    transport,
    protocolVersion,
    peerCertificate: peerCertificateInfo(socket, transport),
  });
}

import type { AuthenticateRequest, ClientInfo } from '../../../../lib/broker/auth.js';

/** A frozen ClientInfo as the broker would pass to a hook. */
export function client(clientId: string, username?: string): ClientInfo {
  return Object.freeze({ clientId, username, remoteAddress: '127.0.0.1', remotePort: 50000, transport: 'tcp', protocolVersion: 5, peerCertificate: undefined });
}

/** A CONNECT authentication request. */
export function connectRequest(username: string | undefined, password: string | Buffer | undefined, clientId = 'c1'): AuthenticateRequest {
  return Object.freeze({
    client: client(clientId, username),
    clientId,
    username,
    password: typeof password === 'string' ? Buffer.from(password) : password,
    authenticationMethod: undefined,
    authenticationData: undefined,
    step: 0,
    reauthenticate: false,
    properties: undefined,
  });
}

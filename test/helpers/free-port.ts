/** Free loopback ports, found by binding port 0 (released right after, for the caller to bind next). */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** `n` distinct free loopback ports (all bound at once, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** A free loopback port (nothing listens on it once this resolves). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

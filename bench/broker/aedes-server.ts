/**
 * Child process of the broker benchmark: runs Aedes (MQTT 3.1.1) on 127.0.0.1 (ephemeral port),
 * reports the port over IPC, answers 'gc' (with --expose-gc) and stops on 'stop'.
 */
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (m: { type: string }) => {
  if (m.type === 'gc') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ type: 'gc-done', memory: process.memoryUsage() });
  } else if (m.type === 'stop') {
    server.close();
    aedes.close(() => process.exit(0));
  }
});

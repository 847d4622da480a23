/**
 * Our embedded broker in its own process for the transport benchmark: reports its port over IPC
 * and stops when told.
 */
import { MqttBroker } from '../../lib/broker/index.js';

const broker = new MqttBroker({ maxQueuedMessages: 1_000_000, receiveMaximum: 65535 });
const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
process.send!({ type: 'ready', port: tcp!.port });
process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') {
    void broker.close().then(() => process.exit(0));
  }
});

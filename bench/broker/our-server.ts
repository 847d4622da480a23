/**
 * Child process of the broker benchmark: runs our MqttBroker on 127.0.0.1 (ephemeral port), reports
 * the port over IPC (options from the environment: BENCH_OUTGOING_TOPIC_ALIASES), answers 'gc' (with --expose-gc) and stops on 'stop'.
 */
import { MqttBroker } from '../../lib/broker/index.js';

const broker = new MqttBroker({ maxConnections: 50_000, outgoingTopicAliases: Number(process.env.BENCH_OUTGOING_TOPIC_ALIASES ?? 0) });
const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
process.send!({ type: 'ready', port: tcp!.port });
process.on('message', (m: { type: string }) => {
  if (m.type === 'gc') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ type: 'gc-done', memory: process.memoryUsage() });
  } else if (m.type === 'stop') {
    void broker.close().then(() => process.exit(0));
  }
});

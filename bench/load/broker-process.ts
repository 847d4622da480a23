/**
 * The broker of the load test in its own process (so that its memory is measured alone): started by
 * bench/load/main.ts with `--expose-gc`, it reports its port over IPC, answers `mem` requests with its
 * memory after a full GC, and closes on `stop`.
 */
import { MqttBroker } from '../../lib/broker/index.js';

interface Request {
  /** `mem`: memory after a full GC; `peek`: memory as it is (no GC pause, for readings during a soak). */
  cmd: 'mem' | 'peek' | 'stop';
}

const maxConnections = Number(process.env.LOAD_MAX_CONNECTIONS ?? 20_000);
const broker = new MqttBroker({ maxConnections, closeGracePeriod: 500 });
broker.on('error', (err) => console.error('broker error:', err));

function memory(collect: boolean): Record<string, number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (collect && gc !== undefined) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  const metrics = broker.metrics();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, connections: metrics.connections, sessions: metrics.sessions, dropped: metrics.droppedMessages };
}

const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
process.on('message', (req: Request) => {
  if (req.cmd === 'mem' || req.cmd === 'peek') {
    process.send!({ type: 'mem', ...memory(req.cmd === 'mem') });
  } else if (req.cmd === 'stop') {
    void broker.close().then(() => {
      process.send!({ type: 'stopped' }, () => process.exit(0));
    });
  }
});
process.send!({ type: 'ready', port: tcp!.port, gc: typeof (globalThis as { gc?: unknown }).gc === 'function' });

/**
 * `pub -l/--stdin-line`: one message per line of stdin, as mosquitto_pub does — on one connection,
 * blank lines skipped, published as the lines arrive. Up to {@link WINDOW} publishes await their
 * acknowledgement at once (the client's receive-maximum flow control still applies below that);
 * acknowledgements are reported in input order.
 */
import { createInterface } from 'node:readline';
import type { MqttClient, PublishOptions, PublishResult } from '../client/index.js';

/** Publishes in flight before reading the next line waits for the oldest acknowledgement. */
const WINDOW = 64;

/** One publish's outcome, settled without rejecting so that no rejection is ever left unhandled. */
type Outcome = { ok: true; ack: PublishResult; bytes: number } | { ok: false; error: unknown };

/**
 * Reads `input` line by line and publishes each non-empty line with `base` (topic, QoS, retain,
 * properties). `onAck` sees each acknowledgement in order. Resolves with the number of messages
 * published; rejects with the first failure. `stop` ends the reading early (signal, deadline).
 */
export async function publishLines(
  client: MqttClient,
  input: NodeJS.ReadableStream,
  base: Omit<PublishOptions, 'payload'>,
  onAck: (ack: PublishResult, bytes: number) => void,
  stop: Promise<unknown>,
): Promise<number> {
  const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
  void stop.then(() => lines.close());
  const pending: Promise<Outcome>[] = [];
  let published = 0;
  const settleOldest = async (): Promise<void> => {
    const outcome = await pending.shift()!;
    if (!outcome.ok) throw outcome.error;
    onAck(outcome.ack, outcome.bytes);
  };
  try {
    for await (const line of lines) {
      if (line === '') continue; // as mosquitto_pub: blank lines are not sent
      const payload = Buffer.from(line, 'utf8');
      pending.push(
        client.publish({ ...base, payload }).then(
          (ack): Outcome => ({ ok: true, ack, bytes: payload.length }),
          (error: unknown): Outcome => ({ ok: false, error }),
        ),
      );
      published++;
      if (pending.length >= WINDOW) await settleOldest();
    }
    while (pending.length > 0) await settleOldest();
  } finally {
    lines.close();
  }
  return published;
}

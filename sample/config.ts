/**
 * Sample configuration, from the environment and the command line:
 * - `MQTT_URL=mqtt://host:port` — use that broker instead of starting the embedded one;
 * - `MQTT_PORT` — port of the embedded broker (default 1883; 0 picks a free port; when 1883 is
 *   taken, e.g. by a local Mosquitto, a free port is used instead);
 * - `--once` or `SAMPLE_EXIT=1` — exit after the demo scenario instead of running until Ctrl-C.
 */

/** What the sample runs with. */
export interface SampleConfig {
  /** External broker URL; undefined: start the embedded broker. */
  readonly url: string | undefined;
  /** Port of the embedded broker. */
  readonly port: number;
  /** Whether the port was asked for explicitly (then a taken port is an error, not a fallback). */
  readonly portExplicit: boolean;
  /** Exit after the scenario. */
  readonly once: boolean;
}

/** Thrown for a malformed setting; main.ts prints it and exits 2. */
export class SampleConfigError extends Error {
  override name = 'SampleConfigError';
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): SampleConfig {
  for (const arg of argv) {
    if (arg !== '--once') throw new SampleConfigError(`Unknown argument ${arg} (the sample takes only --once)`);
  }
  const url = env.MQTT_URL === undefined || env.MQTT_URL === '' ? undefined : env.MQTT_URL;
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SampleConfigError(`MQTT_URL is not a URL: ${url}`);
    }
    if (!['mqtt:', 'tcp:', 'mqtts:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol)) {
      throw new SampleConfigError(`MQTT_URL has an unsupported scheme: ${parsed.protocol}`);
    }
  }
  const portText = env.MQTT_PORT;
  const port = portText === undefined || portText === '' ? 1883 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SampleConfigError(`MQTT_PORT must be 0–65535, not ${portText}`);
  const once = argv.includes('--once') || env.SAMPLE_EXIT === '1' || env.SAMPLE_EXIT === 'true';
  return { url, port, portExplicit: portText !== undefined && portText !== '', once };
}

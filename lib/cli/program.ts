/**
 * The `nest-mqtt5` command tree. Kept apart from main.ts (which only runs it) so that tests can
 * inspect the commands and their help without starting a process.
 */
import { Command } from 'commander';
import { packageVersion } from '../broker/internal.js';
import { registerBroker } from './broker.js';
import { registerConnect } from './connect.js';
import { ExitCode } from './errors.js';
import { registerPub } from './pub.js';
import { registerSub } from './sub.js';

const FOOTER = `
Exit codes:
  ${ExitCode.Ok}  done (or stopped with Ctrl-C / SIGTERM after a clean DISCONNECT)
  ${ExitCode.Failure}  failure: network error, connection lost, message or subscription refused
  ${ExitCode.Usage}  usage error: bad option or argument, bad broker URL, unreadable file
  ${ExitCode.Refused}  the broker refused the connection (CONNACK reason code ≥ 0x80)
  ${ExitCode.Timeout}  timed out (--timeout, or no CONNACK in time)

Environment:
  MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD   defaults of -b, -u, -P

mosquitto_pub/sub-style flags work too: nest-mqtt5 pub -h 127.0.0.1 -p 1883 -t a/b -m hi -q 1

Run "nest-mqtt5 <command> --help" for the options of a command.`;

/**
 * Builds the program. Commander's own errors (unknown option, bad value) throw a CommanderError
 * instead of exiting, so that main.ts maps them to exit code 2.
 */
export function createProgram(): Command {
  const program = new Command('nest-mqtt5')
    .description('MQTT v5 from the command line: connect, publish, subscribe, or run a broker')
    // -h is the broker host and -V the protocol version, as in mosquitto_pub/sub: help and version
    // have long flags only (the subcommands inherit the help flag).
    .version(packageVersion(), '--version')
    .helpOption('--help', 'display help for command')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', FOOTER);
  registerConnect(program);
  registerPub(program);
  registerSub(program);
  registerBroker(program);
  return program;
}

/**
 * Mosquitto password and ACL files for `nest-mqtt5 broker`: read at start (a malformed file refuses the
 * start, naming the file and line), turned into broker hooks, and reloaded on SIGHUP — connected clients
 * stay; clients connecting and subscriptions made afterwards see the new files. A file that fails to
 * reload is reported on stderr (file and line) and the rules in force stay, for both files: the reload
 * is all or nothing, so a half-applied pair (new users, old ACL) never exists.
 */
import {
  AuthFileError,
  aclFileAuthorizer,
  passwordFileAuthenticator,
  type AclFileAuthorizer,
  type MqttBrokerOptions,
  type PasswordFileAuthenticator,
} from '../broker/index.js';
import { UsageError } from './errors.js';
import type { LineWriter } from './runtime.js';

/** The files given to `broker`, as hooks. */
export interface AuthFiles {
  /** To spread into MqttBrokerOptions: authenticate, authorizePublish, authorizeSubscribe, deliveryFilter. */
  readonly brokerOptions: MqttBrokerOptions;
  /** Reloads both files on SIGHUP until disposed; logs the outcome. */
  reloadOnSighup(out: LineWriter, err: LineWriter): { dispose(): void };
}

/** The flags that name the files. */
export interface AuthFileFlags {
  passwordFile?: string;
  aclFile?: string;
  allowAnonymous?: boolean;
}

/** Reads the files; throws UsageError (exit 2) naming the file and line when one is unreadable or malformed. */
export function loadAuthFiles(o: AuthFileFlags): AuthFiles {
  if (o.allowAnonymous === true && o.passwordFile === undefined) {
    throw new UsageError('--allow-anonymous goes with --password-file (without one, every client is accepted).');
  }
  let passwords: PasswordFileAuthenticator | undefined;
  let acl: AclFileAuthorizer | undefined;
  try {
    if (o.passwordFile !== undefined) passwords = passwordFileAuthenticator(o.passwordFile, { allowAnonymous: o.allowAnonymous === true });
    if (o.aclFile !== undefined) acl = aclFileAuthorizer(o.aclFile);
  } catch (err) {
    if (err instanceof AuthFileError) {
      const flag = err.file === o.passwordFile && passwords === undefined ? '--password-file' : '--acl-file';
      throw new UsageError(`${flag} ${err.message}`, { cause: err });
    }
    throw err;
  }
  const brokerOptions: MqttBrokerOptions = { authenticate: passwords, ...acl?.brokerOptions };
  return {
    brokerOptions,
    reloadOnSighup(out, errors) {
      if (passwords === undefined && acl === undefined) return { dispose: () => undefined };
      const onHup = (): void => {
        const message = reloadBoth(passwords, acl);
        if (message === undefined) {
          const what = [passwords && `password file (${passwords.userCount} users)`, acl && 'ACL file'].filter(Boolean).join(' and ');
          out.lineNow(`SIGHUP: reloaded the ${what}`);
        } else {
          errors.lineNow(`SIGHUP: reload failed, keeping the previous rules: ${message}`);
        }
      };
      process.on('SIGHUP', onHup);
      return { dispose: () => process.off('SIGHUP', onHup) };
    },
  };
}

/**
 * Reloads both files, all or nothing: both are parsed before either is swapped in. Returns undefined,
 * or the error message (file and line) of the first file that failed.
 */
function reloadBoth(passwords: PasswordFileAuthenticator | undefined, acl: AclFileAuthorizer | undefined): string | undefined {
  // Parse both first: reload() swaps in at once, so check the ACL by building a throwaway authorizer.
  try {
    if (acl !== undefined) aclFileAuthorizer(acl.path);
    passwords?.reload();
    acl?.reload();
    return undefined;
  } catch (err) {
    if (err instanceof AuthFileError) return err.message;
    return err instanceof Error ? err.message : String(err);
  }
}

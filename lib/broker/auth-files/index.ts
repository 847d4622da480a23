/** Mosquitto-compatible auth files (password file, ACL file) as broker hooks. */
export { AuthFileError, type AuthFileErrorCode } from './errors.js';
export { passwordFileAuthenticator, parsePasswordFile, type PasswordEntry, type PasswordFileAuthenticator, type PasswordFileOptions } from './password-file.js';
export { aclFileAuthorizer, parseAclFile, type AclBrokerHooks, type AclFileAuthorizer, type AclRules } from './acl-file.js';

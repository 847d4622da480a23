/** Broker URLs as shown in `brokerUrl`, errors and logs. */

/**
 * The URL with user name and password removed (they stay in the URL used to connect). Never
 * throws: a string that is not a valid URL is shown with anything between `//` and `@` removed,
 * so that a typo'd URL in an error message does not leak the password it carries.
 */
export function withoutCredentials(url: string | URL): string {
  let shown: URL;
  try {
    shown = new URL(String(url));
  } catch {
    return String(url).replace(/\/\/[^/@]*@/, '//');
  }
  shown.username = '';
  shown.password = '';
  return shown.href;
}

/**
 * Builds the authorization header from the environment: `<PREFIX>_TOKEN` gives a bearer token,
 * `<PREFIX>_USERNAME` and `<PREFIX>_PASSWORD` give basic auth. The value is only ever put in a
 * request header: never in a URL, a journal, a sync state or a message.
 */
export function authorizationFromEnv(
  prefix: string,
  env: Record<string, string | undefined> = process.env,
): Record<string, string> {
  const token = env[`${prefix}_TOKEN`];
  if (token) return { authorization: `Bearer ${token}` };
  const username = env[`${prefix}_USERNAME`];
  const password = env[`${prefix}_PASSWORD`];
  if (username && password !== undefined) {
    return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };
  }
  return {};
}

/** Removes credentials, query and fragment from a URI, for journals and messages. */
export function redactUri(uri: string): string {
  const url = new URL(uri);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, "")}`;
}

/** Basic auth from `user:password@` in a URI (like `MEDFM_TRACK_URI`), as a header; else nothing. */
export function credentialsInUri(uri: string): Record<string, string> {
  const url = new URL(uri);
  if (!url.username) return {};
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/**
 * Which `Host` headers the server answers, against DNS rebinding.
 *
 * A page on `http://evil.example/` whose name is re-pointed to 127.0.0.1 can make the browser send
 * requests to the dashboard on the loopback address as same-origin requests, and read the answers
 * (customer names in `/api/summary`). Such a request still says `Host: evil.example`. So a server
 * bound to a loopback address answers only requests that name a loopback host — `localhost`,
 * an IPv4 `127.x.y.z` or `[::1]`, with any port — and refuses the rest with 421 Misdirected Request.
 *
 * A server bound elsewhere (`--host 0.0.0.0`, a LAN address, a host name) is reached by names the
 * server cannot know (a proxy's, a DNS name, an IP), so it checks nothing: exposing the dashboard
 * is the operator's decision, and {@link exposureWarning} says at start that it has no
 * authentication. A request without `Host` (HTTP/1.0 tools) is answered: a browser always sends it.
 */

/** True for an address or name that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === 'localhost.' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * The host name of a `Host` header value (`127.0.0.1:3000` → `127.0.0.1`, `[::1]:3000` → `[::1]`),
 * or undefined when it is not a well-formed `host[:port]`.
 */
export function hostOfHeader(value: string): string | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  return m?.[1];
}

/**
 * The check of one request's `Host` header for a server bound to `bindHost`: undefined when the
 * request may be answered, else the reason it is refused.
 *
 * @example
 * hostRefusal('127.0.0.1', 'localhost:3000') // undefined
 * hostRefusal('127.0.0.1', 'evil.example')   // 'this dashboard answers only … (Host was evil.example) …'
 * hostRefusal('0.0.0.0', 'evil.example')     // undefined: bound beyond loopback, nothing is checked
 */
export function hostRefusal(bindHost: string, header: string | undefined): string | undefined {
  if (!isLoopbackHost(bindHost) || header === undefined) return undefined;
  const host = hostOfHeader(header);
  if (host !== undefined && isLoopbackHost(host)) return undefined;
  return (
    `this dashboard listens on the loopback address ${bindHost} and answers only requests for localhost, ` +
    `127.0.0.1 or [::1] (Host was ${JSON.stringify(header.slice(0, 200))}), which keeps web pages of other ` +
    'sites from reading it (DNS rebinding). To serve it under another name, start flowmark with --host ' +
    '(it has no authentication: expose it only where that is safe).'
  );
}

/**
 * The line printed when the server starts on a non-loopback address, or undefined on loopback.
 *
 * @example
 * exposureWarning('0.0.0.0', 3000)
 * // 'warning: the dashboard listens on 0.0.0.0:3000, beyond this machine, and has no authentication: …'
 */
export function exposureWarning(bindHost: string, port: number): string | undefined {
  if (isLoopbackHost(bindHost)) return undefined;
  const where = bindHost.includes(':') ? `[${bindHost}]:${port}` : `${bindHost}:${port}`;
  return (
    `warning: the dashboard listens on ${where}, beyond this machine, and has no authentication: anyone who ` +
    'can reach that address reads its figures and customer names (/api/summary) and /metrics. Put it ' +
    'behind a proxy with authentication or a firewall, or keep the default --host 127.0.0.1.'
  );
}

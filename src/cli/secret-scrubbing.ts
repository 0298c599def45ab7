/**
 * Keeps database passwords out of everything the `flowmark` command prints. One function,
 * {@link scrubSecrets}, is applied wherever a URL, or an error that may quote one, is printed:
 * the `config` listing, the summary lines of `import` and `run` (through the configuration's
 * `displayUrl`), the top-level error handler, commander's own messages, and (from
 * bin/flowmark.js) every write to stdout and stderr as a last line of defence.
 *
 * Two mechanisms, because either alone misses something:
 * - patterns, for a password in any text: the authority (`postgres://user:PASSWORD@host`, any
 *   scheme), and a `password=` or `sslpassword=` parameter (URL query, libpq key=value string,
 *   `password: …` in a dump), quoted or not;
 * - the passwords themselves, remembered from the configuration (flags, FLOWMARK_* variables,
 *   the --config file), in their raw, percent-decoded and form-decoded (`+` as space) forms: a
 *   driver that echoes the decoded password, or a URL that does not parse, is still covered.
 *
 * `sslkey`, `sslcert` and `sslrootcert` are paths and stay visible.
 */

/**
 * The words of help texts (`postgres://user:password@host`) are examples, not secrets, and `***`
 * is what is left after scrubbing. (A password that is literally "password" is no secret.)
 */
const PLACEHOLDERS: ReadonlySet<string> = new Set(['password', '***', '…']);

/**
 * `${NAME}`: a reference to an environment variable, substituted when a script is submitted
 * (`flowmark flink sql` writes `'password' = '${FLOWMARK_PG_PASSWORD}'`), not a password. A
 * password remembered from the configuration is still scrubbed wherever it appears.
 */
const VARIABLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/**
 * A remembered password is replaced wherever it appears in any text, so a very short one would
 * garble every message (`a` in every word); those are left to the patterns, which still hide them
 * inside a URL or a `password=` parameter.
 */
const MIN_REMEMBERED = 4;

/** `scheme://user:PASSWORD@`: up to the last `@` before the host, as the URL parser does. */
const AUTHORITY = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"]*:)([^\s/?#]*)@/gi;

/**
 * `password=…`, `sslpassword=…` (query parameter or libpq key=value), `"password": "…"`:
 * the value quoted, or up to a separator.
 */
const PARAMETER =
  /(?<![a-z0-9_])((?:ssl)?password)(["']?)(\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&#,;'"})\]]*)/gi;

/**
 * `text` with every password replaced by `***`: those matched by the patterns, and every
 * `remembered` one wherever it appears.
 *
 * @example
 * scrubSecrets('postgres://shop:s3cret@db/shop?sslpassword=k3y&sslkey=/etc/k.pem')
 * // 'postgres://shop:***@db/shop?sslpassword=***&sslkey=/etc/k.pem'
 */
export function scrubSecrets(text: string, remembered: Iterable<string> = cliSecrets.all()): string {
  let out = text.replace(AUTHORITY, (whole, head: string, password: string) =>
    PLACEHOLDERS.has(password) || password === '' ? whole : `${head}***@`,
  );
  out = out.replace(PARAMETER, (whole, key: string, quote: string, sep: string, value: string) => {
    const bare = value.replace(/^(["'])(.*)\1$/s, '$2');
    return bare === '' || PLACEHOLDERS.has(bare) || VARIABLE_REFERENCE.test(bare) ? whole : `${key}${quote}${sep}***`;
  });
  for (const secret of [...remembered].sort((a, b) => b.length - a.length)) out = out.replaceAll(secret, '***');
  return out;
}

/** The forms of a password a message may show: as written, percent-decoded, form-decoded, encoded. */
function formsOf(password: string): string[] {
  const forms = new Set([password]);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  forms.add(decode(password));
  forms.add(decode(password.replaceAll('+', ' ')));
  forms.add(encodeURIComponent(decode(password)));
  return [...forms].filter((f) => f.length >= MIN_REMEMBERED && !PLACEHOLDERS.has(f));
}

/** The passwords written in `text` (a URL, a key=value string, a YAML file, …), in every form. */
export function passwordsIn(text: string): string[] {
  const found: string[] = [];
  // Up to the last `@` before the host: a password may hold one, as the URL parser reads it.
  for (const m of text.matchAll(AUTHORITY)) found.push(m[2] as string);
  for (const m of text.matchAll(PARAMETER)) found.push((m[4] as string).replace(/^(["'])(.*)\1$/s, '$2'));
  try {
    const url = new URL(text.trim());
    found.push(url.password);
    for (const [key, value] of url.searchParams) if (/^(ssl)?password$/i.test(key)) found.push(value);
  } catch {
    // Not one URL: the patterns above are all there is.
  }
  return found.flatMap(formsOf);
}

/** A set of remembered passwords. */
export class SecretSet {
  readonly #found = new Set<string>();

  /** Remembers every password written in `text`. */
  rememberFrom(text: string): void {
    for (const p of passwordsIn(text)) this.#found.add(p);
  }

  all(): string[] {
    return [...this.#found];
  }

  /** `text` scrubbed by the patterns and by these passwords. */
  scrub(text: string): string {
    return scrubSecrets(text, this.#found);
  }
}

/**
 * The passwords this process has seen in its configuration (the loader adds them, and the CLI
 * adds its arguments and variables at start), so that any later message is scrubbed of them.
 */
export const cliSecrets = new SecretSet();

/**
 * Scrubs everything later written to `stream` (process.stdout, process.stderr) with
 * {@link scrubSecrets}: the last line of defence for a message from a library or a part of
 * flowmark that quotes a connection string. Returns a function that undoes it.
 */
export function scrubStream(stream: NodeJS.WriteStream): () => void {
  const write = stream.write;
  const scrubbing = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text =
      typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : undefined;
    const out = text === undefined ? chunk : scrubSecrets(text);
    return (write as (...args: unknown[]) => boolean).call(this, out, ...rest);
  };
  stream.write = scrubbing as typeof stream.write;
  return () => {
    stream.write = write;
  };
}

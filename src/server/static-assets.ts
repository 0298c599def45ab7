/**
 * The dashboard's files (`web/`), read once when the server starts and served from memory.
 *
 * Only the files found at start are served, by exact path: a request is looked up in a map, never
 * joined to a directory, so `..`, encoded slashes or symlinks cannot reach anything else. Each
 * file has its content type and a strong ETag; responses say `Cache-Control: no-cache` (the
 * browser keeps the file and revalidates it, getting a 304 while it has not changed) since the
 * names carry no content hash.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file, ready to send. */
export interface StaticAsset {
  body: Buffer;
  contentType: string;
  /** A strong validator: a quoted hash of the content. */
  etag: string;
}

/** Content types by extension; a file of any other kind is not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

/** `web/` of this package: the dashboard's files. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * Reads every servable file under `dir` (recursively; names starting with `.` are skipped) into a
 * map from URL path (`/index.html`, `/img/logo.svg`) to the asset. `/` maps to `/index.html`.
 *
 * @example
 * const assets = loadStaticAssets('web');
 * assets.get('/dashboard.js')?.contentType // 'text/javascript; charset=utf-8'
 */
export function loadStaticAssets(dir: string = DEFAULT_WEB_DIR): Map<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const parts = rel.split(sep);
    if (parts.some((p) => p.startsWith('.'))) continue;
    const contentType = CONTENT_TYPES[extname(rel).toLowerCase()];
    const file = join(dir, rel);
    if (contentType === undefined || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(`/${parts.join('/')}`, { body, contentType, etag });
  }
  const index = assets.get('/index.html');
  if (index !== undefined) assets.set('/', index);
  return assets;
}

/**
 * The asset for a request path (the part of the URL before `?`), or undefined. The path is
 * percent-decoded once; an undecodable one, or one holding a backslash or NUL, finds nothing.
 */
export function findAsset(assets: ReadonlyMap<string, StaticAsset>, rawPath: string): StaticAsset | undefined {
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (path.includes('\\') || path.includes('\0')) return undefined;
  return assets.get(path);
}

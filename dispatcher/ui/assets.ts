/**
 * The UI bundle, built in-process with esbuild's JS API when the master starts (`write: false`,
 * kept in memory): `npm start` on a fresh clone serves the UI with no build step and nothing
 * is written to the tree. Takes well under a second; the result is immutable and
 * content-hashed for caching.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { basename } from 'node:path';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

export interface UiAssets {
  /** By file name (`main.js`, `main.css`, `chunk-XXXX.js`). */
  readonly files: ReadonlyMap<string, Asset>;
  /** Short hash of every file, for cache-busting the entry URLs. */
  readonly version: string;
}

const ENTRY = fileURLToPath(new URL('./src/main.ts', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
};

export async function buildUiAssets(options: { minify?: boolean } = {}): Promise<UiAssets> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    splitting: true,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    outdir: '/ui-out',
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    minify: options.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    loader: { '.css': 'css' },
  });
  const files = new Map<string, Asset>();
  const all = createHash('sha256');
  for (const f of result.outputFiles) {
    const name = basename(f.path);
    const body = Buffer.from(f.contents);
    const etag = createHash('sha256').update(body).digest('base64url').slice(0, 16);
    all.update(name).update(etag);
    const ext = name.slice(name.lastIndexOf('.'));
    files.set(name, { body, contentType: TYPES[ext] ?? 'application/octet-stream', etag: `"${etag}"` });
  }
  return { files, version: all.digest('base64url').slice(0, 12) };
}

/**
 * The admin token and the cluster secret live in the data dir, 0600, created on first
 * start unless configured. The admin token is printed once, when it is created.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret } from '../common/tokens.ts';

export interface LoadedSecret {
  readonly value: string;
  readonly path?: string;
  /** True when it was generated now (print it once). */
  readonly created: boolean;
}

export function loadOrCreateSecret(dataDir: string, file: string, configured: string | undefined): LoadedSecret {
  if (configured) return { value: configured, created: false };
  const path = join(dataDir, file);
  if (existsSync(path)) {
    const value = readFileSync(path, 'utf8').trim();
    if (value.length >= 16) return { value, path, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const value = generateSecret();
  writeFileSync(path, value + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { value, path, created: true };
}

export const ADMIN_TOKEN_FILE = 'admin-token';
export const CLUSTER_SECRET_FILE = 'cluster-secret';

/// <reference lib="dom" />
/** REST calls with the session's bearer token; errors carry the API's message. */

export type Role = 'admin' | 'viewer';
export interface Session {
  readonly token: string;
  readonly role: Role;
}

const KEY = 'picluster.session';

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Session;
    return typeof s.token === 'string' && (s.role === 'admin' || s.role === 'viewer') ? s : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T>(method: string, path: string, body?: unknown, token = loadSession()?.token): Promise<T> {
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `the master did not answer (${(e as Error).message})`);
  }
  const text = await r.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!r.ok) {
    const e = (data ?? {}) as { code?: string; message?: string };
    if (r.status === 401) onUnauthorized();
    throw new ApiError(r.status, e.code ?? String(r.status), e.message ?? `${method} ${path} failed with HTTP ${r.status}`);
  }
  return data as T;
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return `${e.status ? `${e.status} ` : ''}${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

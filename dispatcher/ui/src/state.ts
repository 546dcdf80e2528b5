/// <reference lib="dom" />
/** The signed-in session and its live store, shared by every page. */
import { useEffect, useState } from 'preact/hooks';
import { loadSession, saveSession, setUnauthorizedHandler, type Session } from './api.ts';
import { LiveStore } from './live.ts';
import { navigate } from './router.ts';

let session: Session | undefined = loadSession();
let live: LiveStore | undefined;
const sessionListeners = new Set<() => void>();

export function currentSession(): Session | undefined {
  return session;
}

export function isAdmin(): boolean {
  return session?.role === 'admin';
}

export function signIn(s: Session): void {
  session = s;
  saveSession(s);
  startLive();
  for (const l of sessionListeners) l();
}

export function signOut(reason?: string): void {
  live?.stop();
  live = undefined;
  session = undefined;
  saveSession(undefined);
  for (const l of sessionListeners) l();
  navigate(reason ? `/login?reason=${encodeURIComponent(reason)}` : '/login');
}

setUnauthorizedHandler(() => signOut('The token was refused; sign in again.'));

function startLive(): void {
  live?.stop();
  if (!session) return;
  live = new LiveStore(session.token, () => signOut('The token was refused; sign in again.'));
  live.start();
}

export function liveStore(): LiveStore | undefined {
  if (!live && session) startLive();
  return live;
}

export function useSession(): Session | undefined {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    sessionListeners.add(l);
    return () => void sessionListeners.delete(l);
  }, []);
  return session;
}

/** Re-renders the caller whenever the live store changes (at most once per frame). */
export function useLive(): LiveStore {
  const store = liveStore()!;
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((t) => t + 1)), [store]);
  return store;
}

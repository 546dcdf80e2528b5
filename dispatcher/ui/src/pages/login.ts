/// <reference lib="dom" />
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Role } from '../api.ts';
import { ErrorBox } from '../components.ts';
import { navigate } from '../router.ts';
import { signIn } from '../state.ts';

export function LoginPage({ reason }: { reason?: string | null }): ComponentChild {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const t = token.trim();
      const s = await api<{ role: Role }>('GET', '/api/ui/session', undefined, t);
      signIn({ token: t, role: s.role });
      navigate('/', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'main',
    { class: 'login' },
    h(
      'form',
      { class: 'card', onSubmit: submit, 'aria-label': 'Sign in' },
      h('h1', null, 'picluster'),
      reason ? h('p', { class: 'notice', role: 'status' }, reason) : null,
      h('label', { for: 'token' }, 'Token'),
      h('input', {
        id: 'token',
        name: 'token',
        type: 'password',
        autocomplete: 'current-password',
        required: true,
        value: token,
        onInput: (e: Event) => setToken((e.target as HTMLInputElement).value),
      }),
      h(
        'p',
        { class: 'muted small' },
        'The admin token is in ',
        h('code', null, '<dataDir>/admin-token'),
        '; a read-only viewer token is ',
        h('code', null, 'auth.viewerToken'),
        ' in the config. It is kept for this tab only.',
      ),
      h('button', { type: 'submit', class: 'primary', disabled: busy || !token.trim() }, busy ? 'Signing in…' : 'Sign in'),
      h(ErrorBox, { error }),
    ),
  );
}

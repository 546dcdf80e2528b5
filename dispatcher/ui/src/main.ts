/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * picluster web UI entry: layout, routing and the live connection. Every user-provided string
 * is rendered as a text node by Preact (no `dangerouslySetInnerHTML` anywhere).
 */
import './csp.ts';
import 'uplot/dist/uPlot.min.css';
import '@xterm/xterm/css/xterm.css';
import './app.css';
import { h, render, type ComponentChild } from 'preact';
import { BreakerBanner, useAlertsFeed } from './alerts.ts';
import { useLocation, navigate } from './router.ts';
import { liveStore, signOut, useLive, useSession } from './state.ts';
import { AlertsPage } from './pages/alerts.ts';
import { BootPage } from './pages/boot.ts';
import { DashboardPage } from './pages/dashboard.ts';
import { JobPage } from './pages/job.ts';
import { JobsPage } from './pages/jobs.ts';
import { LoginPage } from './pages/login.ts';
import { ManagePage } from './pages/manage.ts';
import { NodePage } from './pages/node.ts';
import { NodesPage } from './pages/nodes.ts';

const NAV: [string, string][] = [
  ['/', 'Dashboard'],
  ['/nodes', 'Nodes'],
  ['/jobs', 'Jobs'],
  ['/boot', 'Boot'],
  ['/alerts', 'Alerts'],
  ['/manage', 'Manage'],
];

function LinkStatus(): ComponentChild {
  const live = useLive();
  const text = live.link === 'live' ? 'live' : live.link === 'connecting' ? 'connecting…' : 'reconnecting…';
  return h('span', { class: `link l-${live.link}`, role: 'status', 'aria-live': 'polite', title: `updates: ${text}` }, text);
}

function Shell({ children, path }: { children?: ComponentChild; path: string }): ComponentChild {
  const session = useSession()!;
  useAlertsFeed();
  const section = path === '/' ? '/' : `/${path.split('/')[1]}`;
  return h(
    'div',
    { class: 'layout' },
    h('a', { href: '#content', class: 'skip' }, 'Skip to content'),
    h(
      'header',
      null,
      h('a', { href: '/', class: 'brand', 'aria-label': 'picluster home' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'picluster'),
      h(
        'nav',
        { 'aria-label': 'Main' },
        h(
          'ul',
          null,
          NAV.map(([href, label]) => h('li', { key: href }, h('a', { href, 'aria-current': section === href ? 'page' : undefined }, label))),
        ),
      ),
      h(
        'div',
        { class: 'who' },
        h(LinkStatus, null),
        h('span', { class: `badge role-${session.role}` }, session.role),
        h('button', { type: 'button', onClick: () => signOut() }, 'Sign out'),
      ),
    ),
    h('div', { id: 'content' }, h(BreakerBanner, null), children),
  );
}

function App(): ComponentChild {
  const { path, query } = useLocation();
  const session = useSession();
  if (!session || path === '/login') {
    if (session && path === '/login') {
      navigate('/', true);
    }
    return h(LoginPage, { reason: query.get('reason') });
  }
  liveStore();
  let page: ComponentChild;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) page = h(DashboardPage, null);
  else if (parts[0] === 'nodes' && parts.length === 1) page = h(NodesPage, null);
  else if (parts[0] === 'nodes' && parts[1]) page = h(NodePage, { key: parts[1], name: parts[1] });
  else if (parts[0] === 'jobs' && parts.length === 1) page = h(JobsPage, { query });
  else if (parts[0] === 'jobs' && parts[1] && /^\d+$/.test(parts[1])) page = h(JobPage, { key: parts[1], id: Number(parts[1]) });
  else if (parts[0] === 'alerts') page = h(AlertsPage, null);
  else if (parts[0] === 'boot') page = h(BootPage, null);
  else if (parts[0] === 'manage') page = h(ManagePage, null);
  else page = h('main', null, h('h1', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '/' }, 'Back to the dashboard')));
  return h(Shell, { path }, page);
}

render(h(App, null), document.getElementById('app')!);

/**
 * The web UI as one `buildApp` plugin: the page at `/` (strict CSP), the esbuild bundle under
 * `/assets/`, the live channel `ws /ui`, the browser shell `ws /shell`, and a few read-only
 * REST helpers the UI needs beyond the public API (`/api/ui/*`).
 *
 * CSP: scripts only from this origin; styles from this origin plus `<style>` elements that carry
 * the page's nonce. xterm.js builds its theme and cell-size rules in `<style>` elements at run
 * time; the bundle stamps those with the nonce (src/csp.ts). Markup-injected styles and inline
 * scripts of any kind are refused.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { Dispatcher } from '../dispatcher.ts';
import { requireRole, roleOf, bearer, type AuthSettings } from '../http/auth.ts';
import { registerShellGateway } from '../http/shell-gateway.ts';
import { UiGateway, type AlertSource, type UiGatewayOptions } from '../http/ui-gateway.ts';
import { Feed, HealthHistory, Throughput, UiSession, ref } from '../http/api-schemas.ts';
import { ErrorResponses, NodeNameParams } from '../http/schemas.ts';
import { ShellBroker, type ShellBrokerOptions } from '../shell-broker.ts';
import { buildUiAssets, type UiAssets } from './assets.ts';
import { UiHistory, type HistoryOptions } from './history.ts';

export interface UiPluginDeps {
  readonly dispatcher: Dispatcher;
  readonly auth: AuthSettings;
  readonly clock: Clock;
  readonly log: Logger;
  readonly version: string;
  readonly history?: HistoryOptions;
  readonly gateway?: UiGatewayOptions;
  readonly shell?: ShellBrokerOptions;
  /** Where alerts are raised (the master's NodeLifecycle); without it the UI re-reads alerts on node changes. */
  readonly alerts?: AlertSource;
  /** Prebuilt assets (tests that build many apps can share one build). */
  readonly assets?: UiAssets;
}

function csp(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function page(assets: UiAssets, nonce: string): string {
  const v = assets.version;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="csp-nonce" content="${nonce}">
<title>picluster</title>
<link rel="icon" href="/assets/favicon.svg">
<link rel="stylesheet" href="/assets/main.css?v=${v}">
<script type="module" src="/assets/main.js?v=${v}"></script>
</head>
<body>
<div id="app"><noscript>The picluster UI needs JavaScript. The REST API is at <a href="/docs">/docs</a>.</noscript></div>
</body>
</html>
`;
}

const FAVICON = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#c51a4a"/><g fill="#fff"><circle cx="10" cy="10" r="4"/><circle cx="22" cy="10" r="4"/><circle cx="10" cy="22" r="4"/><circle cx="22" cy="22" r="4"/></g></svg>',
);

function security(reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
}

export function uiPlugin(deps: UiPluginDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    const log = deps.log.child({ component: 'ui' });
    const assets = deps.assets ?? (await buildUiAssets());
    const history = new UiHistory(deps.clock, deps.history);
    history.attach(deps.dispatcher);
    const gateway = new UiGateway(deps.dispatcher, history, log, { ...deps.gateway, ...(deps.alerts ? { alertSource: deps.alerts } : {}) });
    gateway.register(app, deps.auth);
    // Nodes leaving the registry raise no Dispatcher event: tell the browsers from the API's answers.
    app.addHook('onResponse', async (req, reply) => {
      if (reply.statusCode >= 300 || req.routeOptions.url === undefined) return;
      if (req.method === 'DELETE' && req.routeOptions.url === '/api/nodes/:name') gateway.nodeRemoved((req.params as { name: string }).name);
      else if (req.method === 'POST' && req.routeOptions.url === '/api/nodes') {
        const b = req.body as { name?: string; approve?: string } | undefined;
        if (b?.approve && b.approve !== b.name) gateway.nodeRemoved(b.approve);
      }
    });
    const broker = new ShellBroker(deps.dispatcher, log.child({ component: 'shell' }), deps.shell);
    registerShellGateway(app, broker, deps.auth, log, deps.dispatcher);
    app.addHook('onClose', async () => {
      broker.closeAll('master shutting down');
      history.detach();
    });

    const sendPage = async (_req: unknown, reply: FastifyReply) => {
      const nonce = randomBytes(16).toString('base64');
      security(reply);
      reply.header('content-security-policy', csp(nonce));
      reply.header('cache-control', 'no-store');
      reply.type('text/html; charset=utf-8');
      return page(assets, nonce);
    };
    app.get('/', { schema: { hide: true } }, sendPage);
    // Deep links (`/nodes/local-1`) load the same page; the client routes on location.pathname.
    for (const p of ['/login', '/nodes', '/nodes/*', '/jobs', '/jobs/*', '/alerts', '/manage']) app.get(p, { schema: { hide: true } }, sendPage);

    app.get('/assets/:file', { schema: { hide: true } }, async (req, reply) => {
      const { file } = req.params as { file: string };
      security(reply);
      if (file === 'favicon.svg') {
        reply.header('cache-control', 'public, max-age=86400');
        return reply.type('image/svg+xml').send(FAVICON);
      }
      const a = assets.files.get(file);
      if (!a) return reply.status(404).send({ statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: `no asset ${file}` });
      if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
      reply.header('etag', a.etag);
      // Entry files are versioned by query string, chunks by their hashed names.
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type(a.contentType).send(a.body);
    });

    const viewer = requireRole('viewer', deps.auth);
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    api.get(
      '/api/ui/session',
      {
        onRequest: viewer,
        schema: { tags: ['ui'], summary: 'The role of the presented token (the UI login checks it)', response: { 200: ref(UiSession), ...ErrorResponses } },
      },
      async (req) => ({
        role: roleOf(bearer(req), deps.auth),
        version: deps.version,
      }),
    );
    api.get(
      '/api/ui/throughput',
      {
        onRequest: viewer,
        schema: { tags: ['ui'], summary: 'Finished jobs per minute over the last hour', response: { 200: ref(Throughput), ...ErrorResponses } },
      },
      async () => history.throughput(),
    );
    api.get(
      '/api/ui/nodes/:name/health',
      {
        onRequest: viewer,
        schema: {
          tags: ['ui'],
          summary: 'Recent health samples of a node (CPU, memory, temperature), oldest first',
          params: NodeNameParams,
          response: { 200: ref(HealthHistory), ...ErrorResponses },
        },
      },
      async (req) => {
        const { name } = req.params;
        deps.dispatcher.getNode(name);
        return history.healthOf(name);
      },
    );
    api.get(
      '/api/ui/events',
      {
        onRequest: viewer,
        schema: {
          tags: ['ui'],
          summary: 'Recent node and boot events, newest first',
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) }),
          response: { 200: ref(Feed), ...ErrorResponses },
        },
      },
      async (req) => history.recentEvents(req.query.limit ?? 50),
    );
    log.debug({ files: assets.files.size, version: assets.version }, 'ui assets built');
  };
}

/**
 * `buildApp(deps)` returns the fastify instance with every route; `main` only listens.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/logger.ts';
import { safeEqual } from '../../common/tokens.ts';
import type { Dispatcher } from '../dispatcher.ts';
import { dropInput, type GuardChannel } from '../guard.ts';
import { UnauthorizedError } from './errors.ts';
import { registerAgentGateway } from './agent-gateway.ts';
import type { AuthSettings } from './auth.ts';
import { bearer } from './auth.ts';
import { installErrorHandler } from './error-handler.ts';
import { installFiniteNumbers } from './finite-numbers.ts';
import { installSecurityHeaders } from '../tls-server.ts';
import { installRateLimit, type RateLimitSettings } from './rate-limit.ts';
import { registerClusterRoutes } from './routes-cluster.ts';
import { ArtifactList, registerArtifactRoutes } from './routes-artifacts.ts';
import { FileInfo, registerFileRoutes, type FilesOptions } from './routes-files.ts';
import { registerJobRoutes } from './routes-jobs.ts';
import { registerMonitoringRoutes, type MonitoringOptions } from './routes-monitoring.ts';
import { registerNodeRoutes } from './routes-nodes.ts';
import { RESPONSE_SCHEMAS } from './api-schemas.ts';
import { ErrorBody, JobSubmissionBody } from './schemas.ts';

/** Body limit of every route but `POST /api/jobs`. */
export const SMALL_BODY_LIMIT_BYTES = 64 * 1024;

export interface AppDeps {
  readonly dispatcher: Dispatcher;
  readonly registry: Registry;
  readonly log: Logger;
  readonly auth: AuthSettings;
  readonly version: string;
  readonly storeKind: string;
  readonly bodyLimitBytes?: number;
  readonly helloTimeoutMs?: number;
  /** Per-address limits on the unauthenticated endpoints; defaults as in `limits:` (20/s, burst 200). */
  readonly rateLimit?: RateLimitSettings;
  /** History sampling for `/api/metrics` and `/api/monitoring/export` (defaults: a minute, a day kept). */
  readonly monitoring?: MonitoringOptions;
  /** Input files (`/api/files`); absent = no such routes, and jobs cannot name files. */
  readonly files?: FilesOptions;
  /** PEM pair: serve https (and wss) instead of http; HSTS is sent. */
  readonly https?: { readonly cert: string; readonly key: string };
  /** Extra route registrations (UI, netboot HTTP), given the app. */
  readonly plugins?: readonly ((app: FastifyInstance) => Promise<void> | void)[];
}

/** The guard channel of a websocket path (`/agent`, `/ui`, `/shell`). */
function wsChannelOf(url: string): GuardChannel {
  const path = url.split('?')[0];
  return path === '/ui' ? 'ui' : path === '/shell' ? 'shell' : 'agent';
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // Request lines are not logged (too chatty for a job queue); errors are, by the error handler.
    loggerInstance: deps.log.child({ component: 'http' }, { level: 'warn' }),
    // Authentication runs in onRequest (before a body is read); bodies are small except job submissions (bodyLimitBytes).
    bodyLimit: SMALL_BODY_LIMIT_BYTES,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false } },
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
  }) as unknown as FastifyInstance;
  installSecurityHeaders(app, { hsts: deps.https !== undefined });
  deps.dispatcher.setMaxListeners(0);
  installErrorHandler(app);
  installFiniteNumbers(app);
  installRateLimit(app, deps.rateLimit ?? { perSecond: 20, burst: 200, maxClients: 4096 }, deps.dispatcher);
  app.addSchema(ErrorBody);
  app.addSchema(JobSubmissionBody);
  app.addSchema(FileInfo);
  app.addSchema(ArtifactList);
  for (const schema of RESPONSE_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    // Shared schemas appear under components.schemas by their `$id` (what client/ and the UI name them).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      info: {
        title: 'picluster',
        version: deps.version,
        description: 'Dispatcher REST API. Send `Authorization: Bearer <token>`; mutating routes need the admin token.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 * 1024 },
    // A peer's protocol error (a frame over maxPayload, a bad opcode, invalid UTF-8) is its
    // input, not our failure: counted and logged at debug, the socket dropped. The plugin's
    // default logged each at error level with a stack — a log flood any LAN peer could cause.
    errorHandler: (error, socket, req) => {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
        dropInput(deps.dispatcher, wsChannelOf(req.url), code);
        req.log.debug({ code, url: req.url.split('?')[0] }, 'websocket peer broke the protocol; connection dropped');
      } else req.log.error({ err: error }, 'websocket handler failed');
      socket.terminate();
    },
  });

  registerClusterRoutes(app, deps.dispatcher, deps.auth, { version: deps.version, storeKind: deps.storeKind, startedAt: Date.now() });
  registerNodeRoutes(app, deps.dispatcher, deps.auth);
  registerJobRoutes(app, deps.dispatcher, deps.auth, {
    ...(deps.bodyLimitBytes !== undefined ? { bodyLimitBytes: deps.bodyLimitBytes } : {}),
    ...(deps.files ? { files: deps.files.blobs } : {}),
  });
  if (deps.files) {
    registerFileRoutes(app, deps.auth, deps.files);
    registerArtifactRoutes(app, deps.dispatcher, deps.auth, {
      blobs: deps.files.artifacts,
      maxArtifactBytes: deps.files.maxArtifactBytes,
      nodeTokenValid: deps.files.nodeTokenValid,
    });
  }
  registerMonitoringRoutes(app, { dispatcher: deps.dispatcher, registry: deps.registry, auth: deps.auth }, deps.monitoring);
  registerAgentGateway(
    app,
    deps.dispatcher,
    deps.log.child({ component: 'agent-gateway' }),
    deps.helloTimeoutMs !== undefined ? { helloTimeoutMs: deps.helloTimeoutMs } : {},
  );

  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (deps.auth.metricsToken) {
      const t = bearer(req);
      if (!t || !safeEqual(t, deps.auth.metricsToken)) throw new UnauthorizedError('this /metrics needs Authorization: Bearer <metricsToken>');
    }
    reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });

  for (const plugin of deps.plugins ?? []) await plugin(app);
  return app;
}

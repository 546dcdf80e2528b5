/**
 * `startMaster(config)`: store, inventory, Dispatcher, HTTP app, timers, optional netboot
 * and local agents, wired together. Returns a handle that stops everything in order.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { Registry } from 'prom-client';
import { systemClock, type Clock } from '../common/clock.ts';
import type { Config } from '../common/config.ts';
import { redactConfig } from '../common/config.ts';
import { configSummary } from '../common/config-summary.ts';
import type { Logger } from '../common/logger.ts';
import { verifyNodeToken } from '../common/tokens.ts';
import { BlobStore } from './files/blob-store.ts';
import { loadInventory } from '../inventory/inventory.ts';
import { Dispatcher } from './dispatcher.ts';
import { buildApp } from './http/app.ts';
import { createMetrics, powerMetrics, storeWriteMetrics } from './metrics.ts';
import { ADMIN_TOKEN_FILE, CLUSTER_SECRET_FILE, loadOrCreateSecret } from './secrets.ts';
import { asyncStore } from './store/async-adapter.ts';
import { createAsyncStore, createStore } from './store/factory.ts';
import { countStoreWrites } from './store/write-counter.ts';
import { uiPlugin } from './ui/plugin.ts';
import { VERSION } from './version.ts';
import { DispatcherNodeDirectory } from './netboot-directory.ts';
import { BootFilesMissingError, missingBootFiles } from './boot-files-check.ts';
import { startNetboot, type RunningNetboot } from '../netboot/netboot.ts';
import { NodeLifecycle } from './lifecycle.ts';
import { validatePowerConfig } from './power/driver.ts';
import { registerLifecycleRoutes } from './http/routes-lifecycle.ts';
import { registerBootRoutes } from './http/routes-boot.ts';
import { networkInterfaces } from 'node:os';
import { Counter } from 'prom-client';
import type { BootEvent } from '../netboot/boot-event.ts';
import { guarded } from './guard.ts';
import { installProcessGuard } from './process-guard.ts';
import { ListenError } from './errors.ts';
import { DiskWatch } from './disk-watch.ts';
import { Retention } from './retention.ts';
import { registerRetentionRoutes } from './http/routes-retention.ts';
import { DB_FILE, removePidFile, secureDataDir, writePidFile } from './data-dir.ts';
import { LocalAgents } from './local-agents.ts';
import { readTlsFiles, reloadOnSighup, startBootServer } from './tls-server.ts';

export interface MasterOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Local agents to run as child processes (`npm start` runs 2). */
  readonly localAgents?: number;
  /** Called with the admin token when it was generated on this start. */
  readonly onAdminTokenCreated?: (token: string, path: string) => void;
  /** Catch and count what escapes every handler (uncaughtException/unhandledRejection); `picluster master` sets it. */
  readonly processGuard?: boolean;
}

export interface Master {
  readonly app: FastifyInstance;
  readonly dispatcher: Dispatcher;
  readonly lifecycle: NodeLifecycle;
  readonly registry: Registry;
  /** `http(s)://host:port` as bound. */
  readonly url: string;
  readonly port: number;
  /** With `http.tls`: the plain /boot port as bound, and the pin of the certificate in use. */
  readonly bootPort?: number;
  readonly tlsPin?: () => string;
  readonly adminToken: string;
  readonly adminTokenPath?: string;
  readonly clusterSecret: string;
  readonly localAgentPids: () => number[];
  /** Bound netboot ports (`dhcp`, `tftp`, …) when netboot is enabled. */
  readonly netbootPorts?: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

export async function startMaster(config: Config, options: MasterOptions): Promise<Master> {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  // Netboot may only advertise files that exist (a PXE client sent to a missing one just loops).
  if (config.netboot.enabled) {
    const missing = missingBootFiles(config.netboot);
    if (missing.length) throw new BootFilesMissingError(missing);
  }
  // TLS files are checked before anything starts: a bad path is an error naming it.
  let tls = config.http.tls ? readTlsFiles(config.http.tls) : undefined;
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (const change of secureDataDir(dataDir)) log.warn({ change }, 'data dir mode fixed (the database and secrets are for the master alone)');
  writePidFile(dataDir);
  // Created empty and 0600 so SQLite's -wal and -shm (which take the database's mode) are 0600 too.
  if (config.store.kind === 'sqlite' && !existsSync(join(dataDir, DB_FILE))) writeFileSync(join(dataDir, DB_FILE), '', { mode: 0o600 });
  const admin = loadOrCreateSecret(dataDir, ADMIN_TOKEN_FILE, config.auth.adminToken);
  const secret = loadOrCreateSecret(dataDir, CLUSTER_SECRET_FILE, config.cluster.secret);
  if (admin.created && admin.path) options.onAdminTokenCreated?.(admin.value, admin.path);
  log.debug({ config: redactConfig(config) }, 'effective configuration');
  log.info(configSummary(config), 'configuration');

  // Disk full is a state: known before the store opens, watched while the master runs.
  const disk = new DiskWatch({ path: dataDir, minFreeBytes: config.limits.minFreeDiskBytes, log: log.child({ component: 'disk' }) });
  disk.check();
  const inventory = loadInventory(config.inventory.path, { validatePower: (power, path) => validatePowerConfig(power, { path }) });
  // Write operations counted by name for picluster_store_writes_total (store/write-counter.ts).
  // Every part of the master runs on the asynchronous contract (store/README.md): SQLite through the adapter, PostgreSQL natively.
  const { store, counts: storeWrites } = countStoreWrites(
    config.store.kind === 'postgres'
      ? await createAsyncStore({ kind: 'postgres', url: config.store.url! })
      : asyncStore(createStore({ kind: 'sqlite', path: join(dataDir, DB_FILE), synchronous: config.store.synchronous })),
  );
  const dispatcher = new Dispatcher({
    store,
    clock,
    log: log.child({ component: 'dispatcher' }),
    scheduler: config.scheduler,
    clusterSecret: secret.value,
    inventory,
    poisonAfterNodeLosses: config.recovery.poisonAfterNodeLosses,
    limits: config.limits,
    storage: disk,
  });
  await dispatcher.start();
  const lifecycle = new NodeLifecycle({
    dispatcher,
    store,
    clock,
    log: log.child({ component: 'lifecycle' }),
    policy: {
      ...config.recovery,
      expectBootEvent: config.recovery.expectBootEvent ?? config.netboot.enabled,
      maxConcurrentPowerOps: config.power.maxConcurrent,
      staggerMs: config.power.staggerMs,
    },
  });
  // netboot (when it starts here) must register its counters on this same registry.
  const registry = createMetrics(dispatcher, new Registry(), { clock, version: VERSION });
  const power = powerMetrics(registry);
  storeWriteMetrics(registry, storeWrites);
  const processGuard = options.processGuard
    ? installProcessGuard(log, (kind) => (registry.getSingleMetric('picluster_uncaught_errors_total') as Counter<'kind'> | undefined)?.inc({ kind }))
    : undefined;
  dispatcher.on('identityMismatch', (m) => void lifecycle.alert('identity-mismatch', 'warning', m.message, m.node));
  const resolveAlert = (kind: string): void =>
    void lifecycle.resolveAlert(kind).catch((e: unknown) => log.error({ err: e, kind }, 'could not resolve the alert'));
  watchDisk(disk, dispatcher, lifecycle, resolveAlert);
  disk.start(config.limits.diskCheckMs);
  watchStoreHealth(dispatcher, lifecycle, resolveAlert);
  lifecycle.on('powerOp', (op) => {
    if (op.state === 'pending') return;
    const outcome = op.state === 'succeeded' ? (op.verified ? 'ok' : 'unverified') : op.state;
    power.operations.inc({ driver: op.driver, action: op.action, outcome });
    if (op.completedAt !== undefined) power.duration.observe({ driver: op.driver, action: op.action }, (op.completedAt - op.requestedAt) / 1000);
  });
  // Power actions a previous master left half done (a port left off mid-cycle) are finished first.
  await lifecycle.reconcile();

  // What netbooting nodes are told: where the dispatcher and the /boot files are.
  let boundPort = config.http.port;
  let bootPort = config.http.bootPort;
  const nodeFacingHost = (): string =>
    config.netboot.serverAddress ??
    interfaceAddress(config.netboot.interface) ??
    (config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host);
  const publicHttp = (): string => config.http.publicUrl?.replace(/\/+$/, '') ?? `${tls ? 'https' : 'http'}://${nodeFacingHost()}:${boundPort}`;
  // With TLS, firmware fetches /boot from the plain port, on the host nodes reach the master by.
  const bootBase = (): string => (tls ? `http://${new URL(publicHttp()).hostname}:${bootPort}/boot` : `${publicHttp()}/boot`);
  const directory = new DispatcherNodeDirectory({
    dispatcher,
    clusterSecret: secret.value,
    dispatcherUrl: () => config.netboot.dispatcherUrl ?? `${publicHttp().replace(/^http/, 'ws')}/agent`,
    bootUrl: bootBase,
    tlsPin: () => tls?.pin,
    tftpRoot: resolve(config.netboot.tftpRoot),
    httpRoot: resolve(config.netboot.httpRoot),
  });

  // Retention: old history and finished jobs, at start, hourly, and on demand (POST /api/admin/prune).
  const artifacts = new BlobStore(join(dataDir, 'artifacts'), { storage: disk });
  const pruned = new Counter({
    name: 'picluster_pruned_total',
    help: 'Rows and blobs deleted by retention, by kind (jobs, attempts, artifacts, history)',
    labelNames: ['kind'],
    registers: [registry],
  });
  const retention = new Retention({
    store,
    clock,
    log: log.child({ component: 'retention' }),
    historyDays: config.store.historyDays,
    jobHistoryDays: config.store.jobHistoryDays ?? config.store.historyDays,
    removeArtifact: (sha) => artifacts.remove(sha),
    onPruned: (kind, n) => pruned.inc({ kind }, n),
  });
  retention.start();

  const auth = {
    adminToken: admin.value,
    ...(config.auth.viewerToken ? { viewerToken: config.auth.viewerToken } : {}),
    ...(config.auth.metricsToken ? { metricsToken: config.auth.metricsToken } : {}),
  };
  const app = await buildApp({
    dispatcher,
    registry,
    log,
    auth,
    plugins: [
      (a) => registerBootRoutes(a, dispatcher, { root: resolve(config.netboot.httpRoot), directory }),
      (a) => registerLifecycleRoutes(a, dispatcher, lifecycle, auth),
      (a) => registerRetentionRoutes(a, retention, auth),
      uiPlugin({ dispatcher, auth, clock, log, version: VERSION, alerts: lifecycle }),
    ],
    version: VERSION,
    storeKind: store.kind,
    bodyLimitBytes: config.http.bodyLimitBytes,
    ...(tls ? { https: tls } : {}),
    files: {
      blobs: new BlobStore(join(dataDir, 'files'), { storage: disk }),
      maxUploadBytes: config.files.maxUploadBytes,
      artifacts,
      maxArtifactBytes: config.files.maxArtifactBytes,
      nodeTokenValid: (node, token) => verifyNodeToken(secret.value, node, token),
    },
    rateLimit: { perSecond: config.limits.rateLimitPerSecond, burst: config.limits.rateLimitBurst, maxClients: config.limits.rateLimitClients },
  });

  // Lost-node detection is checked every tenth of a heartbeat: a node is declared lost at most
  // 0.1 interval after its deadline (missedHeartbeats x heartbeatMs after it was last heard).
  const tickMs = Math.max(20, Math.min(250, Math.floor(config.scheduler.heartbeatMs / 10)));
  const ticker = setInterval(() => {
    try {
      dispatcher.tick();
      lifecycle.tick();
    } catch (e) {
      log.error({ err: e }, 'dispatcher tick failed');
    }
  }, tickMs);
  ticker.unref();
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (e) {
    // Undo what started, so the command exits with the reason instead of idling without a port.
    clearInterval(ticker);
    retention.stop();
    disk.stop();
    await dispatcher.shutdown();
    await app.close().catch(() => undefined);
    await store.close();
    removePidFile(dataDir);
    processGuard?.uninstall();
    const code = (e as NodeJS.ErrnoException).code;
    const where = `${config.http.host}:${config.http.port}`;
    if (code === 'EADDRINUSE')
      throw new ListenError(`http.port ${where} is in use (another master?): stop it, or choose another port (--port, http.port, PICLUSTER_HTTP_PORT)`);
    if (code === 'EACCES')
      throw new ListenError(`may not bind http.port ${where}: a port below 1024 needs root or CAP_NET_BIND_SERVICE (picluster install grants it)`);
    if (code === 'EADDRNOTAVAIL') throw new ListenError(`http.host ${config.http.host} is not an address of this machine`);
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  boundPort = port;
  const localHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const url = `${tls ? 'https' : 'http'}://${localHost}:${port}`;
  const boot = tls
    ? await startBootServer({
        host: config.http.host,
        port: config.http.bootPort,
        log,
        register: (a) => registerBootRoutes(a, dispatcher, { root: resolve(config.netboot.httpRoot), directory }),
      }).catch(async (e: unknown) => {
        await app.close().catch(() => undefined);
        throw e;
      })
    : undefined;
  if (boot) bootPort = boot.port;
  const stopSighup =
    tls && config.http.tls ? reloadOnSighup(app.server as HttpsServer, config.http.tls, log.child({ component: 'tls' }), (m) => (tls = m)) : undefined;

  // Netboot (proxyDHCP/DHCP + TFTP) inside the master, when enabled: its counters go to this
  // registry, its boot events into the Dispatcher's per-node timeline.
  let netboot: RunningNetboot | undefined;
  if (config.netboot.enabled) {
    const netbootConfig = {
      ...config.netboot,
      dhcp: { ...config.netboot.dhcp, httpPort: config.http.publicUrl ? config.netboot.dhcp.httpPort : boot ? boot.port : port },
    };
    netboot = await startNetboot(netbootConfig, {
      log: log.child({ component: 'netboot' }),
      clock,
      directory,
      sink: guarded(dispatcher, log, 'netboot', 'boot event', (e: BootEvent) => dispatcher.recordBootEvent(e)),
      registry,
    });
    log.info({ ports: netboot.ports, mode: config.netboot.mode, clients: config.netboot.clients }, 'netboot started');
  }

  const agents = new LocalAgents(
    options.localAgents ?? 0,
    `${tls ? 'wss' : 'ws'}://${localHost}:${port}/agent`,
    secret.value,
    dataDir,
    log.child({ component: 'local-agents' }),
    () => tls?.pin,
  );
  agents.start();

  let closed = false;
  return {
    app,
    dispatcher,
    lifecycle,
    registry,
    url,
    port,
    adminToken: admin.value,
    ...(admin.path ? { adminTokenPath: admin.path } : {}),
    clusterSecret: secret.value,
    localAgentPids: () => agents.pids(),
    ...(netboot ? { netbootPorts: netboot.ports } : {}),
    ...(boot ? { bootPort: boot.port, tlsPin: () => tls!.pin } : {}),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(ticker);
      disk.stop();
      retention.stop();
      await netboot?.close();
      await agents.stop();
      await dispatcher.shutdown();
      stopSighup?.();
      await boot?.app.close();
      await app.close();
      await store.close();
      removePidFile(dataDir);
      processGuard?.uninstall();
    },
  };
}

/** Disk low ⇄ ok raises/resolves `disk-low`; a store write refused makes the watch look at once. */
function watchDisk(disk: DiskWatch, dispatcher: Dispatcher, lifecycle: NodeLifecycle, resolveAlert: (kind: string) => void): void {
  // Neither rejects: a store that refuses the write is logged (lifecycle/alerts.ts).
  const report = (low: boolean, message: string) => {
    if (low) void lifecycle.alert('disk-low', 'critical', message);
    else resolveAlert('disk-low');
  };
  if (disk.low) report(true, disk.describe());
  disk.on('change', (s) => report(s.low, s.message));
  dispatcher.on('storeHealth', (h) => {
    if (!h.ok) disk.check();
  });
}

/** Store writes refused from handlers raise an alert (when the store can take one) and resolve it when they went through. */
function watchStoreHealth(dispatcher: Dispatcher, lifecycle: NodeLifecycle, resolveAlert: (kind: string) => void): void {
  let failing = false;
  dispatcher.on('storeHealth', (h) => {
    if (h.ok === !failing) return;
    failing = !h.ok;
    if (h.ok) resolveAlert('store-failing');
    else void lifecycle.alert('store-failing', 'critical', `the store refuses writes (${h.message ?? 'unknown error'}); ${h.pending} kept for a retry`);
  });
}

/** First IPv4 address of an interface, if it exists on this machine. */
function interfaceAddress(name: string): string | undefined {
  return networkInterfaces()[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

/**
 * Node lifecycle API (admin only): reboot, power, drain, maintenance, identify, add/approve,
 * remove; power journal and alerts (readable by viewers).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { normalizeMac, normalizeSerial } from '../../common/mac.ts';
import { ValidationError, type Problem } from '../../common/errors.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { NodeLifecycle } from '../lifecycle.ts';
import { validatePowerConfig } from '../power/driver.ts';
import { describePowerConfig } from '../power/redact.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { AlertList, IdentifyResult, NodePower, NodeView, PowerOpList, PowerOpView, RebootResult, RemovedNode, ref } from './api-schemas.ts';
import { ErrorResponses, NodeNameParams } from './schemas.ts';

const Labels = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.\\-/]{1,63}$' }), Type.String({ maxLength: 253 }));
const AddNodeBody = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9.\\-_]{0,62}$' }),
    mac: Type.Optional(Type.String({ maxLength: 17 })),
    serial: Type.Optional(Type.String({ maxLength: 16 })),
    model: Type.Optional(Type.String({ maxLength: 32 })),
    slots: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 })),
    labels: Type.Optional(Labels),
    power: Type.Optional(Type.Object({ driver: Type.String({ minLength: 1 }) }, { additionalProperties: true })),
    /** Approve this pending-approval node (seen by netboot) under `name`. */
    approve: Type.Optional(Type.String({ maxLength: 63 })),
  },
  { additionalProperties: false },
);

const RebootBody = Type.Object({ kill: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const DrainBody = Type.Object({ immediate: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const MaintenanceBody = Type.Object({ on: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const IdentifyBody = Type.Object({ seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })) }, { additionalProperties: false });
const PowerOpsQuery = Type.Object({ node: Type.Optional(Type.String({ maxLength: 63 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) });
const AlertsQuery = Type.Object({ open: Type.Optional(Type.Boolean()) });

export function registerLifecycleRoutes(fastify: FastifyInstance, dispatcher: Dispatcher, lifecycle: NodeLifecycle, auth: AuthSettings): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);
  const post = (path: string) => `/api/nodes/:name/${path}`;
  const schema = <R extends TSchema>(summary: string, response: R) => ({
    tags: ['lifecycle'],
    summary,
    params: NodeNameParams,
    response: { 200: response, ...ErrorResponses },
  });

  // Bodies are optional: a POST without one is the same as `{}`.
  app.post(
    post('reboot'),
    {
      onRequest: admin,
      schema: {
        ...schema('Graceful reboot via the agent (mode: drain lets jobs be requeued as they are stopped, kill stops them at once)', ref(RebootResult)),
        body: RebootBody,
      },
    },
    async (req) => ({
      ...(await lifecycle.reboot(req.params.name, { kill: req.body?.kill === true }, 'admin')),
      node: dispatcher.getNode(req.params.name),
    }),
  );
  app.post(post('power-on'), { onRequest: admin, schema: schema("Power on through the node's driver (journaled, verified)", ref(PowerOpView)) }, async (req) =>
    lifecycle.power(req.params.name, 'on', 'admin'),
  );
  app.post(
    post('power-off'),
    { onRequest: admin, schema: schema("Power off through the node's driver (running jobs are requeued)", ref(PowerOpView)) },
    async (req) => lifecycle.power(req.params.name, 'off', 'admin'),
  );
  app.post(
    post('power-cycle'),
    { onRequest: admin, schema: schema("Power-cycle through the node's driver (running jobs are requeued)", ref(PowerOpView)) },
    async (req) => lifecycle.power(req.params.name, 'cycle', 'admin'),
  );
  app.post(
    post('drain'),
    { onRequest: admin, schema: { ...schema('Take no new jobs; immediate: stop and requeue the running ones', ref(NodeView)), body: DrainBody } },
    async (req) => dispatcher.drain(req.params.name, { immediate: req.body?.immediate === true }, 'admin'),
  );
  app.post(post('undrain'), { onRequest: admin, schema: schema('Take jobs again', ref(NodeView)) }, async (req) =>
    dispatcher.undrain(req.params.name, 'admin'),
  );
  app.post(
    post('maintenance'),
    { onRequest: admin, schema: { ...schema('Maintenance on (default) or off: no jobs, no automatic recovery', ref(NodeView)), body: MaintenanceBody } },
    async (req) => dispatcher.setMaintenance(req.params.name, req.body?.on !== false, 'admin'),
  );
  app.post(
    post('identify'),
    { onRequest: admin, schema: { ...schema("Blink the node's activity LED", ref(IdentifyResult)), body: IdentifyBody } },
    async (req) => {
      const name = req.params.name;
      const seconds = req.body?.seconds ?? 30;
      const sent = dispatcher.sendCommand(name, 'identify', { seconds });
      dispatcher.recordNodeEvent(name, 'identify', sent ? `identify for ${seconds} s` : 'identify asked, but the agent is not connected', 'admin');
      return { sent, seconds };
    },
  );

  app.post(
    '/api/nodes',
    {
      onRequest: admin,
      schema: {
        tags: ['lifecycle'],
        summary: 'Add a node, or approve a pending one (approve: its pending name)',
        body: AddNodeBody,
        response: { 201: ref(NodeView), ...ErrorResponses },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const problems: Problem[] = [];
      const mac = b.mac === undefined ? undefined : normalizeMac(b.mac);
      if (b.mac !== undefined && !mac) problems.push({ path: 'mac', message: `'${b.mac}' is not a MAC address` });
      const serial = b.serial === undefined ? undefined : normalizeSerial(b.serial);
      if (b.serial !== undefined && !serial) problems.push({ path: 'serial', message: `'${b.serial}' is not a Pi serial` });
      if (b.power) problems.push(...validatePowerConfig(b.power, { path: 'power' }));
      if (problems.length) throw new ValidationError('invalid node', problems);
      const view = dispatcher.addNode(
        {
          name: b.name,
          ...(mac ? { mac } : {}),
          ...(serial ? { serial } : {}),
          ...(b.model ? { model: b.model } : {}),
          ...(b.slots !== undefined ? { slots: b.slots } : {}),
          ...(b.labels ? { labels: b.labels } : {}),
          ...(b.power ? { power: b.power } : {}),
        },
        'admin',
        b.approve,
      );
      reply.status(201);
      return view;
    },
  );

  app.delete(
    '/api/nodes/:name',
    {
      onRequest: admin,
      schema: {
        tags: ['lifecycle'],
        summary: 'Remove a node (rejects a pending one); its running jobs are requeued',
        params: NodeNameParams,
        response: { 200: ref(RemovedNode), ...ErrorResponses },
      },
    },
    async (req) => {
      dispatcher.removeNode(req.params.name, 'admin');
      return { removed: req.params.name };
    },
  );

  app.get(
    '/api/nodes/:name/power',
    {
      onRequest: viewer,
      schema: {
        tags: ['lifecycle'],
        summary: "The node's power settings (secrets redacted) and whether recovery can cycle it",
        params: NodeNameParams,
        response: { 200: ref(NodePower), ...ErrorResponses },
      },
    },
    async (req) => {
      const name = req.params.name;
      const cfg = dispatcher.nodePowerConfig(name);
      const ladder = lifecycle.ladderOf(name);
      return {
        power: cfg.power ? describePowerConfig(cfg.power) : null,
        canPowerCycle: lifecycle.canPowerCycle(name),
        ladder: ladder ? { ...ladder, failedCycles: [...ladder.failedCycles] } : null,
      };
    },
  );

  app.get(
    '/api/power/operations',
    {
      onRequest: viewer,
      schema: {
        tags: ['lifecycle'],
        summary: 'The power journal, newest first',
        querystring: PowerOpsQuery,
        response: { 200: ref(PowerOpList), ...ErrorResponses },
      },
    },
    async (req) => lifecycle.powerOps(req.query.node, req.query.limit),
  );

  app.get(
    '/api/alerts',
    {
      onRequest: viewer,
      schema: {
        tags: ['lifecycle'],
        summary: 'Alerts, newest first (open=true: only unresolved)',
        querystring: AlertsQuery,
        response: { 200: ref(AlertList), ...ErrorResponses },
      },
    },
    async (req) => ({ breakerOpen: lifecycle.breakerIsOpen, alerts: await lifecycle.alerts(req.query.open) }),
  );
}

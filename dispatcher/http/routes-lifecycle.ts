/**
 * Node lifecycle API (admin only): reboot, power, drain, maintenance, identify, add/approve,
 * remove; power journal and alerts (readable by viewers).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { normalizeMac, normalizeSerial } from '../../common/mac.ts';
import { ValidationError, type Problem } from '../../common/errors.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { NodeLifecycle } from '../lifecycle.ts';
import { validatePowerConfig } from '../power/driver.ts';
import { describePowerConfig } from '../power/redact.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { NodeNameParams } from './schemas.ts';

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

export function registerLifecycleRoutes(app: FastifyInstance, dispatcher: Dispatcher, lifecycle: NodeLifecycle, auth: AuthSettings): void {
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);
  const node = (req: { params: unknown }) => (req.params as { name: string }).name;
  const action = (
    path: string,
    summary: string,
    body: ReturnType<typeof Type.Object> | undefined,
    handler: (name: string, body: Record<string, unknown>) => unknown,
  ) =>
    app.post(
      `/api/nodes/:name/${path}`,
      { onRequest: admin, schema: { tags: ['lifecycle'], summary, params: NodeNameParams, ...(body ? { body } : {}) } },
      async (req) => handler(node(req), (req.body ?? {}) as Record<string, unknown>),
    );

  action(
    'reboot',
    'Graceful reboot via the agent (mode: drain lets jobs be requeued as they are stopped, kill stops them at once)',
    Type.Optional(Type.Object({ kill: Type.Optional(Type.Boolean()) }, { additionalProperties: false })) as never,
    (name, b) => ({
      ...lifecycle.reboot(name, { kill: b.kill === true }, 'admin'),
      node: dispatcher.getNode(name),
    }),
  );
  action('power-on', "Power on through the node's driver (journaled, verified)", undefined, (name) => lifecycle.power(name, 'on', 'admin'));
  action('power-off', "Power off through the node's driver (running jobs are requeued)", undefined, (name) => lifecycle.power(name, 'off', 'admin'));
  action('power-cycle', "Power-cycle through the node's driver (running jobs are requeued)", undefined, (name) => lifecycle.power(name, 'cycle', 'admin'));
  action(
    'drain',
    'Take no new jobs; immediate: stop and requeue the running ones',
    Type.Optional(Type.Object({ immediate: Type.Optional(Type.Boolean()) }, { additionalProperties: false })) as never,
    (name, b) => dispatcher.drain(name, { immediate: b.immediate === true }, 'admin'),
  );
  action('undrain', 'Take jobs again', undefined, (name) => dispatcher.undrain(name, 'admin'));
  action(
    'maintenance',
    'Maintenance on (default) or off: no jobs, no automatic recovery',
    Type.Optional(Type.Object({ on: Type.Optional(Type.Boolean()) }, { additionalProperties: false })) as never,
    (name, b) => dispatcher.setMaintenance(name, b.on !== false, 'admin'),
  );
  action(
    'identify',
    "Blink the node's activity LED",
    Type.Optional(Type.Object({ seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })) }, { additionalProperties: false })) as never,
    (name, b) => {
      const seconds = typeof b.seconds === 'number' ? b.seconds : 30;
      const sent = dispatcher.sendCommand(name, 'identify', { seconds });
      dispatcher.recordNodeEvent(name, 'identify', sent ? `identify for ${seconds} s` : 'identify asked, but the agent is not connected', 'admin');
      return { sent, seconds };
    },
  );

  app.post(
    '/api/nodes',
    { onRequest: admin, schema: { tags: ['lifecycle'], summary: 'Add a node, or approve a pending one (approve: its pending name)', body: AddNodeBody } },
    async (req, reply) => {
      const b = req.body as {
        name: string;
        mac?: string;
        serial?: string;
        model?: string;
        slots?: number;
        labels?: Record<string, string>;
        power?: Record<string, unknown> & { driver: string };
        approve?: string;
      };
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
      schema: { tags: ['lifecycle'], summary: 'Remove a node (rejects a pending one); its running jobs are requeued', params: NodeNameParams },
    },
    async (req) => {
      dispatcher.removeNode(node(req), 'admin');
      return { removed: node(req) };
    },
  );

  app.get(
    '/api/nodes/:name/power',
    {
      onRequest: viewer,
      schema: { tags: ['lifecycle'], summary: "The node's power settings (secrets redacted) and whether recovery can cycle it", params: NodeNameParams },
    },
    async (req) => {
      const cfg = dispatcher.nodePowerConfig(node(req));
      return {
        power: cfg.power ? describePowerConfig(cfg.power as never) : null,
        canPowerCycle: lifecycle.canPowerCycle(node(req)),
        ladder: lifecycle.ladderOf(node(req)) ?? null,
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
        querystring: Type.Object({ node: Type.Optional(Type.String({ maxLength: 63 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      },
    },
    async (req) => {
      const q = req.query as { node?: string; limit?: number };
      return lifecycle.powerOps(q.node, q.limit);
    },
  );

  app.get(
    '/api/alerts',
    {
      onRequest: viewer,
      schema: {
        tags: ['lifecycle'],
        summary: 'Alerts, newest first (open=true: only unresolved)',
        querystring: Type.Object({ open: Type.Optional(Type.Boolean()) }),
      },
    },
    async (req) => {
      const q = req.query as { open?: boolean };
      return { breakerOpen: lifecycle.breakerIsOpen, alerts: lifecycle.alerts(q.open) };
    },
  );
}

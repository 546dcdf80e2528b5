/**
 * Start-up: nodes from the store merged with the inventory (operator patches win), the queue
 * and running attempts rebuilt from the store, and the grace period for agents to reconnect.
 */
import { JobQueue } from '../domain/job-queue.ts';
import type { Job } from '../domain/jobs.ts';
import { canTransitionNode, isConnectedState } from '../domain/nodes.ts';
import { RuntimeNode } from '../node-runtime.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';

/**
 * Loads nodes from the store and the inventory, then the runtime; nodes that were connected turn
 * suspect. `dropRemoved` gets the nodes the runtime brought back only because the store still has
 * attempts running on them though an operator removed them (Results.dropRemoved).
 */
export async function startUp(ctx: DispatcherContext, registry: NodeRegistry, now: number, dropRemoved: (rebuilt: ReadonlySet<string>) => void): Promise<void> {
  const { nodes } = registry;
  for (const name of await ctx.store.listRemovedNodes()) ctx.removed.add(name);
  // An operator's removal stands until the node is added again: neither a record a crash left
  // behind (its delete not yet written) nor the inventory file brings the node (and its agent) back.
  const leftOut = new Set<string>();
  for (const record of await ctx.store.listNodes()) {
    if (ctx.removed.has(record.name)) {
      leftOut.add(record.name);
      registry.deleteNode(record.name);
    } else nodes.set(record.name, new RuntimeNode(record, registry.slotsCap));
  }
  for (const inv of ctx.deps.inventory?.nodes ?? []) {
    if (ctx.removed.has(inv.name)) {
      leftOut.add(inv.name);
      continue;
    }
    const existing = nodes.get(inv.name);
    const fromInventory = {
      mac: inv.mac,
      model: inv.model,
      power: inv.power,
      ...(inv.serial ? { serial: inv.serial } : {}),
      ...(inv.ipv4 ? { ipv4: inv.ipv4 } : {}),
    };
    if (existing) {
      existing.update({
        ...fromInventory,
        labels: existing.record.labelsPatched ? existing.record.labels : inv.labels,
        ...(existing.record.slotsPatched ? {} : { slots: inv.slots }),
      });
    } else {
      nodes.set(
        inv.name,
        new RuntimeNode(registry.newRecord(inv.name, 'inventory', now, { ...fromInventory, labels: inv.labels, slots: inv.slots }), registry.slotsCap),
      );
    }
    registry.persistNode(nodes.get(inv.name)!, now);
  }
  if (leftOut.size)
    ctx.log.warn({ nodes: [...leftOut] }, 'nodes removed by an operator are left out (inventory entries too) until they are added again (POST /api/nodes)');
  dropRemoved(await loadRuntime(ctx, registry, now));
  const grace = Math.max(ctx.settings.restartGraceMs, ctx.lostAfterMs);
  for (const node of nodes.values()) {
    // Attempts that were running when the master stopped wait for their agents to reconnect;
    // nodes that were connected wait too. Nodes held elsewhere (maintenance, rebooting) keep
    // their state, but their attempts are failed if nothing is heard by the deadline.
    if (isConnectedState(node.state) || node.state === 'suspect' || node.running.size > 0) {
      if (node.state !== 'suspect' && canTransitionNode(node.state, 'suspect'))
        registry.setState(node, 'suspect', 'master restarted; waiting for the agent to reconnect', 'system');
      node.deadline = now + grace;
    }
  }
}

/**
 * (Re)builds the in-memory queue and running attempts from the store: everything is read first,
 * then swapped in at once (no event sees a half-built view). → the nodes it had to create to
 * hold running attempts (none were in memory under that name).
 */
export async function loadRuntime(ctx: DispatcherContext, registry: NodeRegistry, now: number): Promise<Set<string>> {
  const attempts = await ctx.store.runningAttempts();
  const jobs = await Promise.all(attempts.map((a) => ctx.store.getJob(a.jobId)));
  const queued = await ctx.store.queuedJobs();
  ctx.running.clear();
  for (const node of registry.nodes.values()) {
    node.running.clear();
    node.orphans.clear();
    node.handingOut = 0;
  }
  ctx.handingOut.clear();
  const created = new Set<string>();
  attempts.forEach((a, i) => {
    const job = jobs[i];
    if (!job) return;
    if (!registry.nodes.has(a.node)) created.add(a.node);
    const node = registry.nodeOrCreate(a.node, now);
    node.running.add(a.id);
    ctx.running.set(a.id, { attemptId: a.id, jobId: a.jobId, node: a.node, startedAt: a.startedAt, job });
  });
  ctx.queue = new JobQueue<Job>();
  for (const job of queued) ctx.queue.enqueue(job, now);
  return created;
}

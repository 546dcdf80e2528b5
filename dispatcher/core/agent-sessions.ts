/**
 * Agent sessions: hello (protocol, token, removed/pending checks, reboot detection, orphaned
 * attempts, welcome), every frame after it, and disconnects. Frames from a replaced link are
 * ignored.
 */
import { CloseCode, PROTOCOL_VERSION, type AgentMessage, type MessageOf } from '../../common/protocol.ts';
import { verifyNodeToken } from '../../common/tokens.ts';
import { canTransitionNode, isConnectedState, type NodeState } from '../domain/nodes.ts';
import type { AgentLink } from '../node-runtime.ts';
import { checkIdentityClaims } from '../claims.ts';
import { TextTailBuffer } from '../../common/tail-buffers.ts';
import type { BootEvents } from './boot-events.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Placement } from './placement.ts';
import type { Results } from './results.ts';

export type HelloOutcome = { ok: true; node: string } | { ok: false; code: string; message: string };

export class AgentSessions {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly results: Results,
    private readonly placement: Placement,
    private readonly bootEvents: BootEvents,
  ) {}

  /** Authenticates and registers an agent; on success the agent has been sent `welcome`. */
  hello(hello: MessageOf<AgentMessage, 'hello'>, link: AgentLink): HelloOutcome {
    const { ctx, registry } = this;
    const now = ctx.clock.now();
    const name = hello.node.name;
    if (hello.protocol !== PROTOCOL_VERSION) {
      return {
        ok: false,
        code: 'PROTOCOL_VERSION',
        message: `agent speaks protocol ${hello.protocol}, this dispatcher speaks ${PROTOCOL_VERSION}: upgrade the ${hello.protocol < PROTOCOL_VERSION ? 'agent (rebuild the image)' : 'master'}`,
      };
    }
    if (!verifyNodeToken(ctx.deps.clusterSecret, name, hello.token)) {
      return { ok: false, code: 'BAD_TOKEN', message: `the token does not belong to node '${name}'` };
    }
    const existing = registry.nodes.get(name);
    if (!existing && registry.isRemoved(name)) {
      return { ok: false, code: 'NODE_REMOVED', message: `node '${name}' was removed by an operator; add it again to let it join` };
    }
    if (existing?.state === 'pending-approval') {
      return { ok: false, code: 'NOT_APPROVED', message: `node '${name}' is waiting for approval` };
    }
    // A token speaks for its node within what the inventory says: MAC/serial claims are checked, never adopted.
    const claims = checkIdentityClaims(name, existing?.record, hello.node, (key) => registry.nodeNameBy(key));
    if (!claims.ok) {
      ctx.log.warn({ node: name, field: claims.field, claimed: claims.claimed }, 'agent identity claim refused');
      ctx.emit('identityMismatch', { node: name, field: claims.field, claimed: claims.claimed, message: claims.message });
      return { ok: false, code: 'IDENTITY_MISMATCH', message: claims.message };
    }
    const node = registry.nodeOrCreate(name, now);
    if (node.link && node.link !== link) node.link.close(CloseCode.replaced, 'replaced by a newer connection');
    const newBoot = node.record.bootId !== undefined && node.record.bootId !== hello.node.bootId;
    const abandon: number[] = [];
    if (newBoot) {
      // The node rebooted: nothing it ran before survives.
      this.results.failAttempts(node, [...node.running], 'node-lost', 'node rebooted', now);
      abandon.push(...hello.running);
    } else if (!ctx.resyncDue) {
      const agentRunning = new Set(hello.running);
      for (const id of hello.running) if (!node.running.has(id)) abandon.push(id);
      const missing = [...node.running].filter((id) => !agentRunning.has(id));
      if (missing.length) {
        // Unacked results are resent right after welcome; wait one lost-interval for them.
        for (const id of missing) node.orphans.add(id);
        node.orphanDeadline = now + ctx.lostAfterMs;
      }
    }
    // Memory is being rebuilt from the store: this agent's attempts are reconciled with the rebuilt
    // view (not the one being replaced) at the hello it sends after the resync closed this link.
    if (ctx.resyncDue) ctx.hellosDuringResync.add(link);
    const wasConnected = node.link !== undefined;
    node.link = link;
    node.credits = 0;
    node.deadline = now + ctx.lostAfterMs;
    node.update({
      identity: hello.node,
      bootId: hello.node.bootId,
      lastSeenAt: now,
      ...(newBoot || node.record.bootId === undefined ? { boots: node.record.boots + 1 } : {}),
      ...(hello.node.model && !node.record.model ? { model: hello.node.model } : {}),
    });
    const wanted = node.record.drainRequested ? (node.running.size ? 'draining' : 'drained') : stateOnConnect(node.state);
    const target = canTransitionNode(node.state, wanted) ? wanted : node.state;
    if (target !== node.state) registry.setState(node, target, newBoot ? 'agent connected after a reboot' : 'agent connected', 'agent');
    registry.nodeEvent(
      node,
      wasConnected ? 'reconnect' : 'hello',
      `agent ${hello.node.agentVersion} connected (boot ${hello.node.bootId.slice(0, 8)}${hello.node.imageVersion ? `, image ${hello.node.imageVersion}` : ''})`,
      'agent',
      now,
    );
    registry.persistNode(node, now);
    link.send({ type: 'welcome', protocol: PROTOCOL_VERSION, node: name, heartbeatMs: ctx.settings.heartbeatMs, slots: node.slots, abandon, serverTime: now });
    // A cancel asked while the agent was away is sent again now.
    for (const id of node.running) {
      if (ctx.running.get(id)?.job.cancelRequested) link.send({ type: 'cancel', attemptId: id, reason: 'cancelled' });
    }
    this.bootEvents.record({
      kind: 'agent-hello',
      at: now,
      node: name,
      outcome: newBoot ? 'rebooted' : 'connected',
      // The timeline joins by MAC: the recorded one, else the claim (checked above not to be another node's).
      ...((node.record.mac ?? hello.node.mac) ? { mac: node.record.mac ?? hello.node.mac } : {}),
      ...((node.record.serial ?? hello.node.serial) ? { serial: node.record.serial ?? hello.node.serial } : {}),
      ...(hello.node.ip ? { ip: hello.node.ip } : {}),
      detail: {
        agentVersion: hello.node.agentVersion,
        bootId: hello.node.bootId,
        ...(hello.node.imageVersion ? { imageVersion: hello.node.imageVersion } : {}),
      },
    });
    ctx.emit('node', node.view());
    return { ok: true, node: name };
  }

  /**
   * Any frame after hello. Frames from a replaced link, or from one being closed (a pull there
   * would give credit for assigns that cannot reach the agent), are ignored: its agent reconnects
   * and says again what matters (running attempts, unacked results).
   */
  message(name: string, link: AgentLink, msg: AgentMessage): void {
    const { ctx, registry } = this;
    const node = registry.nodes.get(name);
    if (!node || node.link !== link || link.open === false) return;
    const now = ctx.clock.now();
    node.deadline = now + ctx.lostAfterMs;
    node.update({ lastSeenAt: now });
    if (node.state === 'suspect') registry.setState(node, 'online', 'agent heard from again', 'agent');
    // Powered on, and the agent of the same boot still heartbeats on its link a heartbeat later:
    // its boot resumed (a VM paused by `off` and continued by `on`); no new hello will come.
    else if (node.state === 'booting' && msg.type === 'heartbeat' && now - node.record.stateSince >= ctx.settings.heartbeatMs)
      registry.setState(node, 'online', 'agent heard from again on the same link: its boot resumed', 'agent');
    switch (msg.type) {
      case 'heartbeat':
        node.update({ health: msg.health });
        this.placement.updatePlacement(node, now);
        if (now - node.persistedAt >= 10 * ctx.settings.heartbeatMs) registry.persistNode(node, now);
        ctx.emit('heartbeat', { node: name });
        ctx.emit('node', node.view());
        break;
      case 'pull':
        node.credits = Math.min(node.credits + msg.slots, node.slots);
        ctx.requestSchedule();
        break;
      case 'output': {
        const run = ctx.running.get(msg.attemptId);
        if (!run || run.node !== name) return;
        run.output ??= { stdout: new TextTailBuffer(ctx.settings.outputLimitBytes), stderr: new TextTailBuffer(ctx.settings.outputLimitBytes) };
        run.output[msg.stream].append(msg.data);
        ctx.emit('output', { attemptId: msg.attemptId, jobId: run.jobId, stream: msg.stream, data: msg.data });
        break;
      }
      case 'result':
        this.results.enqueue({ node: name, link, body: msg.result });
        break;
      case 'event':
        registry.nodeEvent(node, msg.kind, msg.message, 'agent', now);
        break;
      case 'boot-report':
        this.bootEvents.bootReport(name, msg);
        break;
      case 'shell-output':
      case 'shell-exit':
        // Browser shell frames are relayed by the ShellBroker, which subscribes to this event.
        ctx.emit('agentShellFrame', { node: name, message: msg });
        break;
      case 'hello':
        link.send({ type: 'error', code: 'ALREADY_REGISTERED', message: 'hello was already accepted on this connection' });
        break;
    }
  }

  disconnected(name: string, link: AgentLink, clean: boolean): void {
    const { ctx, registry } = this;
    const node = registry.nodes.get(name);
    if (!node || node.link !== link) return;
    node.link = undefined;
    node.credits = 0;
    if (clean && node.running.size === 0 && isConnectedState(node.state)) {
      registry.setState(node, 'offline', 'agent disconnected', 'agent');
    } else if (isConnectedState(node.state)) {
      registry.setState(node, 'suspect', 'connection lost', 'system');
    }
    registry.persistNode(node, ctx.clock.now());
    ctx.emit('node', node.view());
  }
}

/** Where a node goes when its agent connects. Operator-held states stay. */
function stateOnConnect(state: NodeState): NodeState {
  switch (state) {
    case 'maintenance':
    case 'draining':
    case 'drained':
    case 'quarantined':
      return state;
    default:
      return 'online';
  }
}

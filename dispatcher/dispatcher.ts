/**
 * The facade: the one object transports, the lifecycle, metrics and the UI talk to. It owns
 * no behaviour of its own — each method delegates to one collaborator in ./core/ (see
 * ./README.md for which file holds what). Time comes from the injected clock.
 *
 * Durability rules (kept by core/pump.ts and core/results.ts):
 * - `submit` returns only after the jobs are committed.
 * - A result is acked to its agent only after the attempt's end is committed; results that
 *   arrive together are committed in one transaction (group commit), then acked.
 * - An attempt's end is a compare-and-set in the store, so a late or duplicate result can
 *   never be recorded twice; it is counted (and journaled) as stale instead.
 */
import { EventEmitter } from 'node:events';
import { CloseCode, type AgentMessage, type DispatcherMessage, type MessageOf } from '../common/protocol.ts';
import type { BootEvent } from '../netboot/boot-event.ts';
import type { HealthPlacement } from './domain/health.ts';
import type { Job, JobState } from './domain/jobs.ts';
import type { NodeEvent, NodeState } from './domain/nodes.ts';
import type { DispatcherEvents } from './events.ts';
import type { AgentLink } from './node-runtime.ts';
import type { JobQuery } from './store/store.ts';
import type { NodeView } from './views.ts';
import type { BootDiagnosis } from '../doctor/boot/schema.ts';
import { AgentSessions, type HelloOutcome } from './core/agent-sessions.ts';
import { Assignment } from './core/assignment.ts';
import { BootEvents } from './core/boot-events.ts';
import { DispatcherContext, type DispatcherDeps, type JobSubmission } from './core/context.ts';
import { JobCommands, type JobOutput } from './core/job-commands.ts';
import { Liveness } from './core/liveness.ts';
import { NodeCommands, type NewNodeInput } from './core/node-commands.ts';
import { NodeRegistry } from './core/node-registry.ts';
import { overview, type Overview } from './core/overview.ts';
import { PerformanceLearning } from './core/performance.ts';
import { Placement } from './core/placement.ts';
import { Pump } from './core/pump.ts';
import { Results } from './core/results.ts';
import { startUp } from './core/startup.ts';

export type { DispatcherDeps, JobSubmission, SchedulerSettings } from './core/context.ts';
export type { HelloOutcome } from './core/agent-sessions.ts';

export class Dispatcher extends EventEmitter<DispatcherEvents> {
  private readonly ctx: DispatcherContext;
  private readonly registry: NodeRegistry;
  private readonly placement: Placement;
  private readonly results: Results;
  private readonly pumper: Pump;
  private readonly sessions: AgentSessions;
  private readonly jobs: JobCommands;
  private readonly nodeCommands: NodeCommands;
  private readonly liveness: Liveness;
  private readonly boots: BootEvents;
  private started = false;

  constructor(deps: DispatcherDeps) {
    super();
    this.ctx = new DispatcherContext(
      deps,
      (event, ...args) => this.emit(event, ...args),
      () => this.pumper.pump(),
    );
    const ctx = this.ctx;
    this.registry = new NodeRegistry(ctx);
    this.placement = new Placement(ctx, this.registry);
    this.results = new Results(ctx, this.registry, new PerformanceLearning());
    this.pumper = new Pump(ctx, this.registry, this.results, new Assignment(ctx, this.registry, this.placement, this.results));
    this.boots = new BootEvents(ctx, this.registry);
    this.registry.onHistoryWrite = () => this.boots.wrote();
    this.sessions = new AgentSessions(ctx, this.registry, this.results, this.placement, this.boots);
    this.jobs = new JobCommands(ctx, this.registry);
    this.nodeCommands = new NodeCommands(ctx, this.registry, this.results);
    this.liveness = new Liveness(ctx, this.registry, this.results);
  }

  /** Loads nodes, the queue and running attempts from the store and the inventory. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const now = this.ctx.clock.now();
    await startUp(this.ctx, this.registry, now, (rebuilt) => this.results.dropRemoved(rebuilt, now));
    await this.results.loadStaleCount();
    this.ctx.log.info({ nodes: this.registry.nodes.size, queued: this.ctx.queue.size, running: this.ctx.running.size }, 'dispatcher started');
  }

  /**
   * A listener that throws must not break the Dispatcher (or roll back a commit): it is logged.
   */
  override emit<K extends keyof DispatcherEvents>(event: K, ...args: DispatcherEvents[K]): boolean {
    try {
      return (super.emit as (e: K, ...a: DispatcherEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.ctx.log.error({ err: e, event }, 'a dispatcher event listener failed');
      return true;
    }
  }

  // ── jobs (core/job-commands.ts) ──────────────────────────────────────────────────────
  submit(submissions: readonly JobSubmission[]): Promise<Job[]> {
    return this.jobs.submit(submissions);
  }
  getJob(id: number): Promise<Job> {
    return this.jobs.getJob(id);
  }
  getJobWithAttempts(id: number) {
    return this.jobs.getJobWithAttempts(id);
  }
  listJobs(query: JobQuery) {
    return this.jobs.listJobs(query);
  }
  jobCounts(): Promise<Record<JobState, number>> {
    return this.jobs.jobCounts();
  }
  jobOutput(id: number): Promise<JobOutput> {
    return this.jobs.jobOutput(id);
  }
  cancel(id: number, actor = 'admin'): Promise<Job> {
    return this.jobs.cancel(id, actor);
  }

  // ── the pump (core/pump.ts) ──────────────────────────────────────────────────────────
  /** Commits pending results and hands out jobs now, or after the pump in flight (tests and shutdown call it directly). */
  pump(): Promise<void> {
    return this.ctx.pumpNow();
  }

  /** Resolves when no pump is requested or in flight and every handler-side store write was tried. */
  idle(): Promise<void> {
    return this.ctx.idle();
  }

  // ── agents (core/agent-sessions.ts) ──────────────────────────────────────────────────
  agentHello(hello: MessageOf<AgentMessage, 'hello'>, link: AgentLink): HelloOutcome {
    const outcome = this.sessions.hello(hello, link);
    this.boots.helloOutcome(hello.node.name, outcome);
    return outcome;
  }
  agentMessage(name: string, link: AgentLink, msg: AgentMessage): void {
    this.sessions.message(name, link, msg);
  }
  agentDisconnected(name: string, link: AgentLink, clean: boolean): void {
    this.sessions.disconnected(name, link, clean);
  }
  /** Store writes kept for a retry because the store refused them (dispatcher/store-retry.ts). */
  get pendingStoreWrites(): number {
    return this.ctx.storeRetry.size;
  }

  get staleResults(): number {
    return this.results.staleResults;
  }

  // ── time (core/liveness.ts) ──────────────────────────────────────────────────────────
  /** Called periodically by the host (every ~heartbeatMs/4): lost nodes, orphans, due retries. */
  tick(): void {
    this.liveness.tick();
  }

  // ── nodes (core/node-registry.ts, core/node-commands.ts) ─────────────────────────────
  listNodes(): NodeView[] {
    return this.registry.listNodes();
  }
  getNode(name: string): NodeView {
    return this.registry.getNode(name);
  }
  findNode(name: string): (NodeView & { ipv4?: string }) | undefined {
    return this.registry.findNode(name);
  }
  nodeNameBy(key: { mac?: string; serial?: string }): string | undefined {
    return this.registry.nodeNameBy(key);
  }
  runningOn(name: string): { attemptId: number; jobId: number; startedAt: number }[] {
    return this.registry.runningOn(name);
  }
  nodeEvents(name: string, limit?: number): Promise<NodeEvent[]> {
    return this.registry.nodeEvents(name, limit);
  }
  recordNodeEvent(name: string, kind: string, message: string, actor: string): void {
    this.registry.recordNodeEvent(name, kind, message, actor);
  }
  enrollPending(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): string | undefined {
    return this.nodeCommands.enrollPending(client);
  }
  patchNode(name: string, patch: { slots?: number; labels?: Record<string, string> }, actor = 'admin'): NodeView {
    return this.nodeCommands.patchNode(name, patch, actor);
  }
  sendToNode(name: string, message: DispatcherMessage): boolean {
    return this.nodeCommands.sendToNode(name, message);
  }
  transitionNode(name: string, to: NodeState, reason: string, actor: string): NodeView {
    return this.nodeCommands.transitionNode(name, to, reason, actor);
  }
  nodePowerConfig(name: string): { power?: Readonly<Record<string, unknown>>; mac?: string; model?: string } {
    return this.nodeCommands.nodePowerConfig(name);
  }
  drain(name: string, options: { immediate?: boolean } = {}, actor = 'admin'): NodeView {
    return this.nodeCommands.drain(name, options, actor);
  }
  abandonRunning(name: string, reason: string): number {
    return this.nodeCommands.abandonRunning(name, reason);
  }
  undrain(name: string, actor = 'admin'): NodeView {
    return this.nodeCommands.undrain(name, actor);
  }
  setMaintenance(name: string, on: boolean, actor = 'admin'): NodeView {
    return this.nodeCommands.setMaintenance(name, on, actor);
  }
  sendCommand(name: string, command: 'reboot' | 'identify' | 'shutdown', args?: Record<string, unknown>): boolean {
    return this.nodeCommands.sendCommand(name, command, args);
  }
  addNode(input: NewNodeInput, actor = 'admin', approve?: string): NodeView {
    return this.nodeCommands.addNode(input, actor, approve);
  }
  removeNode(name: string, actor = 'admin'): void {
    this.nodeCommands.removeNode(name, actor);
  }

  // ── boot events (core/boot-events.ts) ────────────────────────────────────────────────
  recordBootEvent(event: BootEvent): void {
    this.boots.record(event);
  }
  bootEvents(query: { node?: string; mac?: string; serial?: string; limit?: number }) {
    return this.boots.list(query);
  }
  /** The boot doctor: the node's latest boot attempt against the catalogue in doctor/boot. */
  bootDiagnosis(name: string): Promise<BootDiagnosis> {
    return this.boots.diagnose(name);
  }

  // ── overview and placement (core/overview.ts, core/placement.ts) ─────────────────────
  async overview(): Promise<Overview> {
    return overview(this.ctx, this.registry.listNodes(), await this.jobs.jobCounts(), this.results.staleResults);
  }
  nodePlacement(name: string): HealthPlacement {
    return this.placement.nodePlacement(name);
  }
  queueDepthByGroup(): Map<string, number> {
    return this.ctx.queue.depthByGroup();
  }

  /** Commits what is pending, then closes every agent link (master shutdown); the store is closed by its owner. */
  async shutdown(): Promise<void> {
    await this.idle();
    for (const node of this.registry.nodes.values()) {
      node.link?.close(CloseCode.shutdown, 'master shutting down');
      node.link = undefined;
    }
  }
}

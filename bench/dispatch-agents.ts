/**
 * bench:dispatch's picluster consumers (a worker thread): N simulated agents speaking the real
 * protocol over real WebSockets, answering each `assign` at once with a result (no-op jobs) and
 * a pull for one more. Every job is sampled: `assign` received (dispatch) and `result-ack`
 * received (complete); completions and samples go to the main thread every 20 ms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { wall, type Samples } from './dispatch-harness.ts';

export interface AgentsInit {
  readonly url: string;
  readonly secret: string;
  readonly agents: number;
  readonly slots: number;
}
export type FromAgents = { type: 'ready' } | { type: 'report'; completed: number; samples: Samples };

const init = workerData as AgentsInit;
const port = parentPort!;
let completed = 0;
let out: Samples = { ids: [], dispatchedAt: [], completedAt: [] };
const inFlight = new Map<number, { jobId: number; at: number }>();
const sockets: WebSocket[] = [];

async function start(i: number): Promise<void> {
  const name = `sim-${i}`;
  const ws = new WebSocket(init.url.replace('http', 'ws') + '/agent', { perMessageDeflate: false });
  sockets.push(ws);
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
  await new Promise<void>((welcomed) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as DispatcherMessage;
      if (m.type === 'assign') {
        inFlight.set(m.attemptId, { jobId: m.jobId, at: wall() });
        const now = Date.now();
        ws.send(
          JSON.stringify({
            type: 'result',
            result: { attemptId: m.attemptId, jobId: m.jobId, outcome: 'succeeded', exitCode: 0, startedAt: now, durationMs: 0 },
          }),
        );
        ws.send(JSON.stringify({ type: 'pull', slots: 1 }));
      } else if (m.type === 'result-ack') {
        completed++;
        const f = inFlight.get(m.attemptId);
        if (f) {
          inFlight.delete(m.attemptId);
          out.ids.push(String(f.jobId));
          out.dispatchedAt.push(f.at);
          out.completedAt.push(wall());
        }
      } else if (m.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'pull', slots: init.slots }));
        welcomed();
      }
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: deriveNodeToken(init.secret, name),
        node: { name, cpus: init.slots, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: 'sim', bootId: `boot-${i}` },
        running: [],
      }),
    );
  });
}

await Promise.all(Array.from({ length: init.agents }, (_, i) => start(i)));
port.postMessage({ type: 'ready' } satisfies FromAgents);
const flush = setInterval(() => {
  if (!completed) return;
  port.postMessage({ type: 'report', completed, samples: out } satisfies FromAgents);
  completed = 0;
  out = { ids: [], dispatchedAt: [], completedAt: [] };
}, 20);
port.on('message', (m: { type: 'stop' }) => {
  if (m.type !== 'stop') return;
  clearInterval(flush);
  for (const s of sockets) s.close();
  port.close();
});

/**
 * bench:dispatch's picluster client (a worker thread): `POST /api/jobs` for each batch the main
 * thread asks for, answering with the ids the dispatcher returned. A real submitter is another
 * process; run on the dispatcher's own thread, the HTTP client's work (undici's request and
 * response handling) would be charged to the server — BullMQ's client likewise runs beside,
 * not inside, redis-server.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface SubmitterInit {
  readonly url: string;
  readonly token: string;
}
export type ToSubmitter = { type: 'submit'; seq: number; n: number };
export type FromSubmitter = { type: 'ready' } | { type: 'submitted'; seq: number; ids?: string[]; error?: string };

const init = workerData as SubmitterInit;
const port = parentPort!;
const job = { argv: ['true'] };

async function submit(n: number): Promise<string[]> {
  const r = await fetch(`${init.url}/api/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: n }, () => job)),
  });
  if (r.status !== 201) throw new Error(`submit failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: number }[]).map((j) => String(j.id));
}

port.on('message', (m: ToSubmitter) => {
  submit(m.n).then(
    (ids) => port.postMessage({ type: 'submitted', seq: m.seq, ids } satisfies FromSubmitter),
    (e: Error) => port.postMessage({ type: 'submitted', seq: m.seq, error: e.message } satisfies FromSubmitter),
  );
});
port.postMessage({ type: 'ready' } satisfies FromSubmitter);

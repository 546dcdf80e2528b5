import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { TransferWorkers } from './workers.ts';

describe('TransferWorkers', () => {
  it('becomes ready with the real worker', async () => {
    const w = new TransferWorkers(2, silentLogger(), () => undefined);
    await w.whenReady();
    expect(w.size).toBe(2);
    expect(w.available()).toBe(true);
    await w.close();
    expect(w.available()).toBe(false);
  });

  it('a worker that cannot load is replaced a bounded number of times, then transfers stay in-process', async () => {
    const w = new TransferWorkers(1, silentLogger(), () => undefined, new URL('./no-such-worker.mjs', import.meta.url));
    await w.whenReady();
    expect(w.size).toBe(0);
    expect(w.available()).toBe(false);
    await w.close();
  });
});

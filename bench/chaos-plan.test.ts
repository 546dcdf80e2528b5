import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../simulate/fleet.ts';
import { planMilestones, summaryTable } from './chaos-plan.ts';

describe('chaos plan', () => {
  it('spreads every event over its own slot of the jobs, in increasing order, the same for the same seed', () => {
    const o = { jobs: 50_000, masterKills: 20, cuts: 3, diskFulls: 2 };
    const plan = planMilestones(o, mulberry32(7));
    expect(plan).toHaveLength(25);
    expect(plan.filter((m) => m.kind === 'kill')).toHaveLength(20);
    expect(plan.filter((m) => m.kind === 'disk')).toHaveLength(2);
    for (let i = 1; i < plan.length; i++) expect(plan[i]!.atDone).toBeGreaterThan(plan[i - 1]!.atDone);
    expect(plan[0]!.atDone).toBeGreaterThanOrEqual(2500);
    expect(plan.at(-1)!.atDone).toBeLessThanOrEqual(45_000);
    expect(planMilestones(o, mulberry32(7))).toEqual(plan);
    expect(planMilestones(o, mulberry32(8))).not.toEqual(plan);
    // relative to the jobs already done when the chaos starts
    const late = planMilestones(o, mulberry32(7), 30_000);
    expect(late[0]!.atDone).toBeGreaterThanOrEqual(31_000);
    expect(late.at(-1)!.atDone).toBeLessThanOrEqual(48_000);
  });

  it('prints aligned rows', () => {
    expect(
      summaryTable([
        ['jobs', 50000],
        ['lost', 0],
        ['seed', '42'],
      ]),
    ).toBe('jobs  50,000\nlost  0\nseed  42');
  });
});

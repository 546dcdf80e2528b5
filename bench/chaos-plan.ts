/**
 * Pure parts of the chaos run: when the master kills, link cuts and disk-full episodes happen
 * (at counts of succeeded jobs, spread by the seeded PRNG), and the summary table.
 */
export interface Milestone {
  readonly kind: 'kill' | 'cut' | 'disk';
  /** Happens once this many jobs have succeeded. */
  readonly atDone: number;
}

/**
 * Every event gets its own slot between 5 % and 90 % of the jobs still to do (`doneAlready`
 * have succeeded when the chaos starts), slots in random order, so no two overlap and the run
 * ends with a quiet drain.
 */
export function planMilestones(o: { jobs: number; masterKills: number; cuts: number; diskFulls: number }, random: () => number, doneAlready = 0): Milestone[] {
  const kinds: Milestone['kind'][] = [
    ...Array<Milestone['kind']>(o.masterKills).fill('kill'),
    ...Array<Milestone['kind']>(o.cuts).fill('cut'),
    ...Array<Milestone['kind']>(o.diskFulls).fill('disk'),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const span = 0.85 / Math.max(1, kinds.length);
  const todo = Math.max(0, o.jobs - doneAlready);
  return kinds.map((kind, i) => ({ kind, atDone: doneAlready + Math.floor(todo * (0.05 + span * (i + 0.25 + 0.5 * random()))) }));
}

/** A two-column text table. */
export function summaryTable(rows: readonly (readonly [string, string | number])[]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`).join('\n');
}

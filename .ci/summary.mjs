// Prints the plain closing line `tests: N passed, N failed, N skipped` from vitest's JSON report.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
for (const file of report.testResults ?? []) {
  for (const t of file.assertionResults ?? []) {
    if (t.status === 'failed') console.log(`FAILED: ${file.name.replace(process.cwd() + '/', '')} › ${t.fullName}`);
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);

// Where the time went: the slowest files (e2e files run one at a time, so their sum is wall time).
const files = (report.testResults ?? [])
  .map((f) => ({ name: f.name.replace(process.cwd() + '/', ''), s: ((f.endTime ?? 0) - (f.startTime ?? 0)) / 1000 }))
  .filter((f) => f.s > 0)
  .sort((a, b) => b.s - a.s);
const e2e = files.filter((f) => f.name.startsWith('test/e2e/'));
console.log(`slowest files (e2e total ${e2e.reduce((n, f) => n + f.s, 0).toFixed(0)} s):`);
for (const f of files.slice(0, 15)) console.log(`  ${f.s.toFixed(1).padStart(7)} s  ${f.name}`);

// A writable POWER-ETHERNET-MIB pethPsePortAdminEnable column for snmpd's `pass_persist`:
//   pass_persist .1.3.6.1.2.1.105.1.1.1.3 <node> <this file> <state.json>
// Rows <group>.<port> come from the state file ({"1.1": 1, ...}: true(1)/false(2)); sets are
// written back (and appended to <state.json>.log) so a test can see the switch's persistent state.
// Row "1.8" is a broken port: it accepts a set and keeps its old value (for verify-failure tests).
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const BASE = '.1.3.6.1.2.1.105.1.1.1.3';
const stateFile = process.argv[2];
const load = () => JSON.parse(readFileSync(stateFile, 'utf8'));
const cmp = (a, b) => {
  const x = a.split('.').map(Number),
    y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === undefined) return -1;
    if (y[i] === undefined) return 1;
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return 0;
};
const rows = (state) => Object.keys(state).sort(cmp);
const out = (...lines) => process.stdout.write(lines.join('\n') + '\n');
const index = (oid) => (oid.startsWith(BASE + '.') ? oid.slice(BASE.length + 1) : undefined);

const queue = [];
let waiting = null;
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => (waiting ? (waiting(l), (waiting = null)) : queue.push(l)));
rl.on('close', () => process.exit(0));
const next = () => new Promise((r) => (queue.length ? r(queue.shift()) : (waiting = r)));

for (;;) {
  const cmd = (await next()).trim();
  if (cmd === 'PING') {
    out('PONG');
    continue;
  }
  if (cmd === 'get') {
    const oid = (await next()).trim();
    const state = load();
    const i = index(oid);
    if (i !== undefined && i in state) out(oid, 'integer', String(state[i]));
    else out('NONE');
    continue;
  }
  if (cmd === 'getnext') {
    const oid = (await next()).trim();
    const state = load();
    const i = index(oid);
    const after = rows(state).find((r) => (i === undefined ? cmp(oid, BASE) <= 0 : cmp(r, i) > 0));
    if (after !== undefined) out(`${BASE}.${after}`, 'integer', String(state[after]));
    else out('NONE');
    continue;
  }
  if (cmd === 'set') {
    const oid = (await next()).trim();
    const [type, value] = (await next()).trim().split(/\s+/);
    const state = load();
    const i = index(oid);
    if (i === undefined || !(i in state)) {
      out('not-writable');
      continue;
    }
    if (type !== 'integer') {
      out('wrong-type');
      continue;
    }
    if (value !== '1' && value !== '2') {
      out('wrong-value');
      continue;
    }
    appendFileSync(stateFile + '.log', `set ${i} ${value}\n`);
    if (i !== '1.8') state[i] = Number(value);
    writeFileSync(stateFile, JSON.stringify(state));
    out('DONE');
    continue;
  }
  if (cmd === '') continue;
  out('NONE');
}

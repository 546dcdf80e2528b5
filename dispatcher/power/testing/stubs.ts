/**
 * Recording stub executables for the command-line drivers' tests: tiny `/bin/sh` scripts in a temp
 * dir that log their exact argv (and chosen env vars) and print what the real tool prints, keeping
 * the device's state in a file so read-backs see the effect of earlier calls.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StubCall {
  readonly tool: string;
  readonly argv: string[];
  /** Env vars the stub was told to record (name → value; '' when unset). */
  readonly env: Record<string, string>;
}

export interface StubDir {
  readonly dir: string;
  /** `PATH` with the stub dir first. */
  readonly path: string;
  calls(): StubCall[];
  state(name: string): string | undefined;
  setState(name: string, value: string): void;
  cleanup(): void;
}

const US = '\x1f';

/** Writes the scripts; `body` is sh that may use `$D` (the dir), `$1..`; recording is prepended. */
export function makeStubDir(stubs: Record<string, { body: string; recordEnv?: string[] }>): StubDir {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-power-stubs-'));
  for (const [tool, { body, recordEnv = [] }] of Object.entries(stubs)) {
    const envPart = recordEnv.map((v) => `printf '${US}ENV:${v}=%s' "\${${v}-}"`).join('; ');
    const script = [
      '#!/bin/sh',
      `D='${dir}'`,
      `{ printf '%s' '${tool}'; for a in "$@"; do printf '${US}%s' "$a"; done; ${envPart ? envPart + '; ' : ''}printf '\\n'; } >> "$D/calls.log"`,
      body,
      '',
    ].join('\n');
    const file = join(dir, tool);
    writeFileSync(file, script);
    chmodSync(file, 0o755);
  }
  return {
    dir,
    path: `${dir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    calls: () => {
      const log = join(dir, 'calls.log');
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [tool, ...rest] = line.split(US);
          const env: Record<string, string> = {};
          const argv: string[] = [];
          for (const r of rest) {
            const m = /^ENV:([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(r);
            if (m) env[m[1]!] = m[2]!;
            else argv.push(r);
          }
          return { tool: tool!, argv, env };
        });
    },
    state: (name) => {
      const f = join(dir, `${name}.state`);
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
    },
    setState: (name, value) => writeFileSync(join(dir, `${name}.state`), value + '\n'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** uhubctl: state per port in `$D/port<N>.state` (`on`/`off`), output as uhubctl 2.5 prints it. */
export const UHUBCTL_STUB = String.raw`
hub=""; port=""; action=""
while [ $# -gt 0 ]; do
  case "$1" in
    -l) hub="$2"; shift ;;
    -p) port="$2"; shift ;;
    -a) action="$2"; shift ;;
    -d|-r|-w) shift ;;
  esac
  shift
done
if [ "$hub" != "1-1" ]; then echo "No compatible devices detected at location $hub!" >&2; echo "Run with -h to get usage info." >&2; exit 1; fi
st() { cat "$D/port$port.state" 2>/dev/null || echo on; }
show() {
  echo "$1 status for hub $hub [0424:2514, USB 2.00, 4 ports, ppps]"
  if [ "$(st)" = on ]; then echo "  Port $port: 0503 power highspeed enable connect [0424:ec00]"; else echo "  Port $port: 0000 off"; fi
}
show Current
case "$action" in
  on|off) echo "Sent power $action request"; echo "$action" > "$D/port$port.state"; show New ;;
  cycle) echo "Sent power off request"; echo off > "$D/port$port.state"; show New
         echo "Sent power on request"; echo on > "$D/port$port.state"; show New ;;
esac
`;

/** gpioset/gpioget (v1 and v2 syntax): physical level per line in `$D/line<N>.state` (`0`/`1`). */
export const GPIOSET_STUB = String.raw`
low=0; last=""
for a in "$@"; do case "$a" in -l|--active-low) low=1 ;; esac; last="$a"; done
line=$(echo "$last" | cut -d= -f1); val=$(echo "$last" | cut -d= -f2)
if [ "$low" = 1 ]; then val=$((1 - val)); fi
echo "$val" > "$D/line$line.state"
`;
export const GPIOGET_STUB = String.raw`
low=0; v2=0; last=""
for a in "$@"; do case "$a" in -l|--active-low) low=1 ;; -c) v2=1 ;; esac; last="$a"; done
phys=$(cat "$D/line$last.state" 2>/dev/null || echo 0)
val=$phys; if [ "$low" = 1 ]; then val=$((1 - phys)); fi
echo "$val"
`;

/** ipmitool: chassis state in `$D/chassis.state`; refuses a bad IPMI_PASSWORD and a cycle while off. */
export const IPMITOOL_STUB = String.raw`
for a in "$@"; do verb="$a"; done
if [ "$IPMI_PASSWORD" != "$(cat "$D/password")" ]; then
  echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1
fi
st=$(cat "$D/chassis.state" 2>/dev/null || echo on)
case "$verb" in
  status) echo "Chassis Power is $st" ;;
  on) echo on > "$D/chassis.state"; echo "Chassis Power Control: Up/On" ;;
  off) echo off > "$D/chassis.state"; echo "Chassis Power Control: Down/Off" ;;
  cycle)
    if [ "$st" = off ]; then echo "Set Chassis Power Control to Cycle failed: Command not supported in present state" >&2; exit 1; fi
    echo "Chassis Power Control: Cycle" ;;
esac
`;

/** A user relay script for the command driver: `relay <node> on|off|status`. */
export const RELAY_STUB = String.raw`
node="$1"; verb="$2"
case "$verb" in
  on|off) echo "$verb" > "$D/relay-$node.state"; echo "ok" ;;
  status) echo "relay $node: $(cat "$D/relay-$node.state" 2>/dev/null || echo off)" ;;
  *) echo "usage: relay NODE on|off|status" >&2; exit 2 ;;
esac
`;

/** Every power driver by name. Adding a driver: one file with a `defineDriver(...)`, one line here. */
import type { DriverSpec } from './support.ts';
import { agentDriver } from './agent.ts';
import { commandDriver } from './command.ts';
import { gpioDriver } from './gpio.ts';
import { httpDriver } from './http.ts';
import { ipmiDriver } from './ipmi.ts';
import { manualDriver } from './manual.ts';
import { qemuDriver } from './qemu.ts';
import { snmpPoeDriver } from './snmp-poe.ts';
import { uhubctlDriver } from './uhubctl.ts';

export const DRIVER_SPECS: Readonly<Record<string, DriverSpec>> = Object.freeze(
  Object.fromEntries(
    [agentDriver, commandDriver, gpioDriver, httpDriver, ipmiDriver, manualDriver, qemuDriver, snmpPoeDriver, uhubctlDriver].map((d) => [d.name, d]),
  ),
);

export const DRIVER_NAMES: readonly string[] = Object.keys(DRIVER_SPECS);

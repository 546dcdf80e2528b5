/**
 * Power config validation: the `driver` key picks a TypeBox schema (one per driver, no unknown keys,
 * defaults filled), then the driver's cross-field checks run. Every problem is reported at once.
 */
import type { Problem } from '../../common/errors.ts';
import { checkWithDefaults } from '../../common/config.ts';
import { DRIVER_NAMES, DRIVER_SPECS } from './registry.ts';
import type { PowerConfig } from './driver.ts';

export function checkPowerConfig(config: unknown): { value: PowerConfig | undefined; problems: Problem[] } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return { value: undefined, problems: [{ path: '', message: 'must be a mapping with a `driver` key' }] };
  }
  const driver = (config as Record<string, unknown>)['driver'];
  if (typeof driver !== 'string' || !driver) {
    return { value: undefined, problems: [{ path: 'driver', message: `required: one of ${DRIVER_NAMES.join(', ')}` }] };
  }
  const spec = Object.hasOwn(DRIVER_SPECS, driver) ? DRIVER_SPECS[driver] : undefined;
  if (!spec) return { value: undefined, problems: [{ path: 'driver', message: `unknown power driver '${driver}' (known: ${DRIVER_NAMES.join(', ')})` }] };
  const { value, problems } = checkWithDefaults(spec.schemaFor ? spec.schemaFor(config as Record<string, unknown>) : spec.schema, config);
  const extra = spec.check ? spec.check(value as never) : [];
  const seen = new Set(problems.map((p) => `${p.path}\0${p.message}`));
  for (const p of extra) if (!seen.has(`${p.path}\0${p.message}`)) problems.push(p);
  return { value: problems.length ? undefined : (value as PowerConfig), problems };
}

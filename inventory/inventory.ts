/**
 * `inventory/nodes.yaml`: the cluster's nodes. Loaded and validated at start; every problem
 * (schema, duplicate name/MAC/serial) is reported at once with its path.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { PiclusterError, ValidationError, type Problem } from '../common/errors.ts';
import { checkWithDefaults } from '../common/config.ts';
import { normalizeMac, normalizeSerial } from '../common/mac.ts';
import { MODELS, MODEL_NAMES, type ModelName } from './models.ts';

const Labels = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.\\-/]{1,63}$' }), Type.String({ maxLength: 253 }));
const Model = Type.Union(MODEL_NAMES.map((m) => Type.Literal(m)));
/** Power settings: `driver` plus driver-specific keys (validated by the driver). */
const Power = Type.Object({ driver: Type.String({ minLength: 1 }) }, { additionalProperties: true });

const NodeEntry = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9.\\-_]{0,62}$' }),
    mac: Type.String({ minLength: 12 }),
    serial: Type.Optional(Type.String({ minLength: 8 })),
    model: Type.Optional(Model),
    slots: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 })),
    labels: Type.Optional(Labels),
    ipv4: Type.Optional(Type.String({ format: 'ipv4' })),
    power: Type.Optional(Power),
  },
  { additionalProperties: false },
);

export const InventoryFileSchema = Type.Object(
  {
    defaults: Type.Object(
      {
        model: Type.Optional(Model),
        slots: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 })),
        labels: Type.Optional(Labels),
        power: Type.Optional(Power),
      },
      { default: {}, additionalProperties: false },
    ),
    nodes: Type.Array(NodeEntry, { default: [] }),
  },
  { additionalProperties: false },
);

export interface InventoryNode {
  readonly name: string;
  readonly mac: string;
  readonly serial?: string;
  readonly model: ModelName;
  readonly slots: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly ipv4?: string;
  readonly power: Readonly<Record<string, unknown>> & { readonly driver: string };
}

export interface Inventory {
  readonly nodes: readonly InventoryNode[];
  byName(name: string): InventoryNode | undefined;
  byMac(mac: string): InventoryNode | undefined;
  bySerial(serial: string): InventoryNode | undefined;
}

export class InventoryFileError extends PiclusterError {
  readonly code = 'INVENTORY_FILE';
}

export interface InventoryOptions {
  /** Checks a node's `power` block (the power drivers' schemas); problems carry the given path. */
  readonly validatePower?: (power: unknown, path: string) => Problem[];
}

export function buildInventory(raw: unknown, source = 'inventory', options: InventoryOptions = {}): Inventory {
  const checked = checkWithDefaults(InventoryFileSchema, raw ?? {});
  const problems: Problem[] = [...checked.problems];
  const file = checked.value as Static<typeof InventoryFileSchema>;
  if (!Array.isArray(file.nodes)) throw new ValidationError(`invalid ${source}`, problems);
  const names = new Map<string, number>();
  const macs = new Map<string, number>();
  const serials = new Map<string, number>();
  const nodes: InventoryNode[] = [];
  file.nodes.forEach((n, i) => {
    const at = `nodes[${i}]`;
    if (typeof n !== 'object' || n === null || typeof n.name !== 'string' || typeof n.mac !== 'string') return; // reported by the schema
    const mac = normalizeMac(n.mac);
    if (!mac) problems.push({ path: `${at}.mac`, message: `'${n.mac}' is not a MAC address` });
    const serial = n.serial === undefined ? undefined : normalizeSerial(n.serial);
    if (n.serial !== undefined && !serial) problems.push({ path: `${at}.serial`, message: `'${n.serial}' is not a Pi serial (8 or 16 hex digits)` });
    const dup = (map: Map<string, number>, key: string | undefined, what: string, field: string): void => {
      if (key === undefined) return;
      const first = map.get(key);
      if (first !== undefined) problems.push({ path: `${at}.${field}`, message: `duplicate ${what} '${key}' (also nodes[${first}])` });
      else map.set(key, i);
    };
    dup(names, n.name.toLowerCase(), 'name', 'name');
    dup(macs, mac, 'MAC', 'mac');
    dup(serials, serial, 'serial', 'serial');
    if (n.power && options.validatePower) problems.push(...options.validatePower(n.power, `${at}.power`));
    const model = n.model && n.model in MODELS ? n.model : (file.defaults?.model ?? 'other');
    nodes.push({
      name: n.name,
      mac: mac ?? n.mac,
      ...(serial ? { serial } : {}),
      model,
      slots: n.slots ?? file.defaults?.slots ?? MODELS[model].cpus,
      labels: { ...file.defaults?.labels, ...n.labels },
      ...(n.ipv4 ? { ipv4: n.ipv4 } : {}),
      power: (n.power ?? file.defaults?.power ?? { driver: 'manual' }) as InventoryNode['power'],
    });
  });
  if (problems.length) {
    const seen = new Set<string>();
    throw new ValidationError(
      `invalid ${source}`,
      problems.filter((p) => !seen.has(p.path) && seen.add(p.path)),
    );
  }
  const index = <K extends 'name' | 'mac' | 'serial'>(k: K) => new Map(nodes.filter((n) => n[k]).map((n) => [String(n[k]).toLowerCase(), n]));
  const byName = index('name');
  const byMac = index('mac');
  const bySerial = index('serial');
  return {
    nodes,
    byName: (name) => byName.get(name.toLowerCase()),
    byMac: (mac) => byMac.get(normalizeMac(mac) ?? mac),
    bySerial: (serial) => bySerial.get(normalizeSerial(serial) ?? serial),
  };
}

/** Loads nodes.yaml; a missing file is an empty inventory unless `required`. */
export function loadInventory(path: string, options: { required?: boolean } & InventoryOptions = {}): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !options.required) return buildInventory({});
    throw new InventoryFileError(`cannot read inventory ${path}: ${(e as Error).message}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new InventoryFileError(`inventory ${path} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  return buildInventory(raw, `inventory ${path}`, options);
}

/**
 * `snmp-poe`: a PoE switch port through RFC 3621 POWER-ETHERNET-MIB
 * `pethPsePortAdminEnable` (`1.3.6.1.2.1.105.1.1.1.3.<group>.<port>`, true(1) / false(2)),
 * SNMP v2c (community) or v3 (USM user), with the `net-snmp` package. Every set is read back
 * with a get of the same OID.
 *
 * - The admin state is *persistent* on the switch ("persistent at restart/reboot", RFC 3621): a master
 *   that dies between off and on leaves the port dark across switch reboots. The caller's journal
 *   must finish an interrupted cycle (the error of a failed "on" half says `details.leftOff`).
 * - AdminEnable is what the switch was told, not proof that power flows: pethPsePortDetectionStatus
 *   (column 6) says `deliveringPower(3)`; many switches also need a few seconds to re-detect the PD.
 * - Vendor MIBs (Cisco, Netgear, ...) add extras; this driver only needs the standard column.
 * - Cycle = off, `offMs` (injected sleep), on; there is no cycle verb in the MIB.
 */
import { isIPv6 } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import snmp from 'net-snmp';
import type { Problem } from '../../common/errors.ts';
import type { PowerState } from './driver.ts';
import { type PowerError, PowerRefusedError, PowerTimeoutError, PowerUnreachableError } from './errors.ts';
import { defineDriver, offMs, offWaitOn, timeoutMs, verifyState } from './support.ts';

export const PETH_PSE_PORT_ADMIN_ENABLE = '1.3.6.1.2.1.105.1.1.1.3';
const TRUE = 1;
const FALSE = 2;

const AUTH = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
const PRIV = ['des', 'aes', 'aes256b', 'aes256r'] as const;

export const SnmpPoeSchema = Type.Object(
  {
    driver: Type.Literal('snmp-poe'),
    /** The switch's management address. */
    host: Type.String({ minLength: 1 }),
    snmpPort: Type.Integer({ minimum: 1, maximum: 65535, default: 161 }),
    version: Type.Union([Type.Literal('2c'), Type.Literal('3')], { default: '2c' }),
    /** v2c: the write community. */
    community: Type.Optional(Type.String({ minLength: 1 })),
    /** v3: the USM user. `level` defaults from the keys given. Keys must be at least 8 characters. */
    user: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          level: Type.Optional(Type.Union([Type.Literal('noAuthNoPriv'), Type.Literal('authNoPriv'), Type.Literal('authPriv')])),
          authProtocol: Type.Union(
            AUTH.map((a) => Type.Literal(a)),
            { default: 'sha' },
          ),
          authKey: Type.Optional(Type.String({ minLength: 8 })),
          privProtocol: Type.Union(
            PRIV.map((p) => Type.Literal(p)),
            { default: 'aes' },
          ),
          privKey: Type.Optional(Type.String({ minLength: 8 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** v3 context name (some switches put PoE in a per-unit context). */
    context: Type.Optional(Type.String()),
    /** `pethPsePortGroupIndex`: usually the stack unit / PSE, 1 on a single switch. */
    group: Type.Integer({ minimum: 1, default: 1 }),
    /** `pethPsePortIndex`: the port (usually the front-panel number). */
    port: Type.Integer({ minimum: 1 }),
    offMs: offMs(),
    /** One SNMP request (each retry waits this long again). */
    timeoutMs: timeoutMs(3000),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 1 }),
  },
  { additionalProperties: false },
);
type SnmpPoeConfig = Static<typeof SnmpPoeSchema>;

function checkSnmp(c: SnmpPoeConfig): Problem[] {
  const problems: Problem[] = [];
  if (c.version === '2c') {
    if (!c.community) problems.push({ path: 'community', message: 'required for SNMP v2c' });
    if (c.user) problems.push({ path: 'user', message: 'only for SNMP v3 (set version: "3")' });
    if (c.context !== undefined) problems.push({ path: 'context', message: 'only for SNMP v3' });
  } else {
    if (!c.user) problems.push({ path: 'user', message: 'required for SNMP v3' });
    if (c.community) problems.push({ path: 'community', message: 'only for SNMP v2c (v3 uses user)' });
    const level = c.user ? levelOf(c.user) : undefined;
    if (c.user && (level === 'authNoPriv' || level === 'authPriv') && !c.user.authKey)
      problems.push({ path: 'user.authKey', message: `required for ${level}` });
    if (c.user && level === 'authPriv' && !c.user.privKey) problems.push({ path: 'user.privKey', message: 'required for authPriv' });
  }
  return problems;
}

function levelOf(user: NonNullable<SnmpPoeConfig['user']>): 'noAuthNoPriv' | 'authNoPriv' | 'authPriv' {
  return user.level ?? (user.privKey ? 'authPriv' : user.authKey ? 'authNoPriv' : 'noAuthNoPriv');
}

/** `pethPsePortAdminEnable` value → state. */
export function adminEnableState(value: unknown): PowerState {
  return value === TRUE ? 'on' : value === FALSE ? 'off' : 'unknown';
}

export const snmpPoeDriver = defineDriver({
  name: 'snmp-poe',
  schema: SnmpPoeSchema,
  check: checkSnmp,
  create: (config, ctx) => {
    const oid = `${PETH_PSE_PORT_ADMIN_ENABLE}.${config.group}.${config.port}`;
    const where = `${config.host} PoE port ${config.group}.${config.port}`;
    const options = {
      port: config.snmpPort,
      retries: config.retries,
      timeout: config.timeoutMs,
      transport: isIPv6(config.host) ? ('udp6' as const) : ('udp4' as const),
    };
    const open = (): snmp.Session => {
      if (config.version === '2c') return snmp.createSession(config.host, config.community!, { ...options, version: snmp.Version2c });
      const u = config.user!;
      const level = levelOf(u);
      return snmp.createV3Session(
        config.host,
        {
          name: u.name,
          level: snmp.SecurityLevel[level],
          ...(level !== 'noAuthNoPriv' ? { authProtocol: snmp.AuthProtocols[u.authProtocol], authKey: u.authKey! } : {}),
          ...(level === 'authPriv' ? { privProtocol: snmp.PrivProtocols[u.privProtocol], privKey: u.privKey! } : {}),
        },
        { ...options, version: snmp.Version3, ...(config.context !== undefined ? { context: config.context } : {}) },
      );
    };
    const request = (what: string, call: (s: snmp.Session, cb: (e: Error | null, vb?: snmp.Varbind[]) => void) => void) =>
      new Promise<snmp.Varbind>((resolve, reject) => {
        let session: snmp.Session;
        try {
          session = open();
        } catch (e) {
          return reject(new PowerUnreachableError(`${what} ${where}: ${(e as Error).message}`, { cause: e }));
        }
        session.on('error', (e) => {
          session.close();
          reject(new PowerUnreachableError(`${what} ${where}: ${e.message}`, { cause: e }));
        });
        call(session, (error, varbinds) => {
          session.close();
          if (error) return reject(mapError(error, `${what} ${where}`));
          const vb = varbinds?.[0];
          if (!vb) return reject(new PowerRefusedError(`${what} ${where}: empty response`));
          if (snmp.isVarbindError(vb)) {
            return reject(new PowerRefusedError(`${what} ${where}: ${snmp.varbindError(vb)} (no such PoE port on this switch?)`, { details: { oid } }));
          }
          resolve(vb);
        });
      });
    const status = async (): Promise<PowerState> => adminEnableState((await request('reading', (s, cb) => s.get([oid], cb))).value);
    const set = async (on: boolean) => {
      await request(on ? 'enabling' : 'disabling', (s, cb) => s.set([{ oid, type: snmp.ObjectType.Integer, value: on ? TRUE : FALSE }], cb));
      return verifyState(on ? 'on' : 'off', status, `pethPsePortAdminEnable.${config.group}.${config.port} set to ${on ? 'true(1)' : 'false(2)'}`);
    };
    return {
      name: 'snmp-poe',
      capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
      on: () => set(true),
      off: () => set(false),
      cycle: () =>
        offWaitOn(
          ctx,
          config.offMs,
          () => set(false),
          () => set(true),
        ),
      status,
    };
  },
});

function mapError(error: Error, what: string): PowerError {
  if (error instanceof snmp.RequestTimedOutError) return new PowerTimeoutError(`${what}: no SNMP answer (${error.message})`, { cause: error });
  if (error instanceof snmp.RequestFailedError) {
    const status = snmp.ErrorStatus[String(error.status)] ?? error.status;
    return new PowerRefusedError(`${what}: the switch refused (${status})`, { cause: error, details: { snmpError: status } });
  }
  // v3: a wrong user or key comes back as a USM report ("Wrong Digest", "Unknown User Name", ...).
  if (error instanceof snmp.ResponseInvalidError || /usm|digest|authentic|decrypt|unknown user|engine/i.test(error.message)) {
    return new PowerRefusedError(`${what}: SNMPv3 security failed (${error.message})`, { cause: error });
  }
  return new PowerUnreachableError(`${what}: ${error.message}`, { cause: error });
}

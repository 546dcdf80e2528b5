/**
 * Client side of `bench:bootstorm`, run inside the bench's client namespace: N simulated
 * Raspberry Pis booting at once (a rack after a power cut). Each one does what its
 * firmware does (reference/pi-netboot.md §1.3, §2):
 *   1. DHCPDISCOVER from 0.0.0.0:68 with the Pi's options (60 PXEClient:Arch:00000:UNDI:002001,
 *      93 = 0, 94 = 1.2.1, 97 GUID: serial ×4 on a 3B+, `RPi4` layout on a 4), resent every
 *      second, until a proxy OFFER carrying "Raspberry Pi Boot" in option 43 arrives;
 *   2. TFTP from its own address (the router gave it one; the proxy gives none), lock-step:
 *      Pi 3B+: the ROM's bootcode.bin and bootsig.bin without options (512-byte blocks),
 *      then bootcode.bin's requests with `tsize` only (512-byte blocks); Pi 4: `tsize` and
 *      `blksize 1468`; both probe kernel8.img (first block, then ERROR "Early terminate");
 *      1 s retransmit timer, a file fails after 30 s without progress (TFTP_FILE_TIMEOUT);
 *   3. HTTP GET of the runtime from the same server.
 * Input: one JSON argument (see `Plan`); output: one JSON line with every client's times.
 */
import dgram from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { decodeDhcp, encodeDhcp } from '../netboot/dhcp/codec.ts';
import { getOption, Opt } from '../netboot/dhcp/options.ts';
import { pxeRequest } from '../netboot/dhcp/testing.ts';
import type { TftpOption } from '../netboot/tftp/codec.ts';
import { tftpGet } from '../netboot/tftp/testing/client.ts';

export interface PlanClient {
  readonly ip: string;
  readonly mac: string;
  readonly serial: string;
  readonly model: 'pi3b+' | 'pi4';
}

export interface PlanFile {
  readonly name: string;
  /** `rom`: no options; `tsize`: tsize only (512 blocks); `blk1468`: tsize + blksize 1468. */
  readonly mode: 'rom' | 'tsize' | 'blk1468';
  readonly probe?: boolean;
  /** A 404 is the expected answer (bootsig.bin). */
  readonly missing?: boolean;
}

export interface Plan {
  readonly server: string;
  readonly clients: readonly PlanClient[];
  readonly files: Readonly<Record<PlanClient['model'], readonly PlanFile[]>>;
  readonly httpFile: string;
}

export interface ClientResult {
  readonly ip: string;
  readonly model: string;
  readonly offerMs?: number;
  readonly tftpDoneMs?: number;
  readonly doneMs?: number;
  readonly failures: string[];
  readonly discovers: number;
  /** Duplicate DATA seen (server retransmits), client RRQ/ACK resends. */
  readonly serverRetransmits: number;
  readonly clientRetransmits: number;
  readonly tftpBytes: number;
  readonly httpBytes: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const t0 = performance.now();
const now = (): number => performance.now() - t0;

function discover(c: PlanClient): Buffer {
  const serial = Buffer.alloc(4);
  serial.writeUInt32LE(parseInt(c.serial, 16));
  const mac = Buffer.from(c.mac.replaceAll(':', ''), 'hex');
  const guid =
    c.model === 'pi3b+'
      ? Buffer.concat([Buffer.from([0]), serial, serial, serial, serial])
      : Buffer.concat([Buffer.from([0]), Buffer.from('RPi4', 'latin1'), Buffer.from([0x11, 0x31, 0xc0, 0x00]), mac.subarray(2, 6), serial]);
  const msg = pxeRequest({
    mac: c.mac,
    // The 3B+ ROM's xid is a constant (fw#1605 and others); the Pi 4 picks one.
    xid: c.model === 'pi3b+' ? 0x26f30339 : parseInt(c.serial, 16) >>> 0,
    guid,
    extra: [
      { code: Opt.ClientNdi, data: Buffer.from([1, 2, 1]) },
      { code: Opt.ParamList, data: Buffer.from([43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66]) },
    ],
  });
  return encodeDhcp(msg);
}

async function main(): Promise<void> {
  const dhcp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => dhcp.bind(68, '0.0.0.0', r));
  dhcp.setBroadcast(true);
  const waiting = new Map<string, () => void>();
  dhcp.on('message', (buf) => {
    try {
      const m = decodeDhcp(buf);
      const mac = [...m.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
      const o43 = getOption(m, Opt.VendorSpecific);
      if (o43 && o43.includes(Buffer.from('Raspberry Pi Boot'))) waiting.get(mac)?.();
    } catch {
      // not a DHCP reply
    }
  });

  const one = async (c: PlanClient): Promise<ClientResult> => {
    const failures: string[] = [];
    let discovers = 0;
    let serverRetransmits = 0;
    let clientRetransmits = 0;
    let tftpBytes = 0;
    let httpBytes = 0;
    // 1. DHCP
    const offered = new Promise<void>((resolve) => waiting.set(c.mac, resolve));
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      discovers++;
      dhcp.send(discover(c), 67, '255.255.255.255');
      if (discovers < 30) timer = setTimeout(send, 1000);
    };
    send();
    let giveUp: NodeJS.Timeout | undefined;
    const got = await Promise.race([offered.then(() => true), new Promise<boolean>((r) => (giveUp = setTimeout(() => r(false), 45_000)))]); // DHCP_TIMEOUT
    clearTimeout(giveUp);
    clearTimeout(timer);
    waiting.delete(c.mac);
    const offerMs = now();
    if (!got) return { ip: c.ip, model: c.model, failures: ['no offer'], discovers, serverRetransmits, clientRetransmits, tftpBytes, httpBytes };
    // 2. TFTP
    for (const f of plan.files[c.model]) {
      const options: TftpOption[] =
        f.mode === 'rom'
          ? []
          : f.mode === 'tsize'
            ? [{ name: 'tsize', value: '0' }]
            : [
                { name: 'tsize', value: '0' },
                { name: 'blksize', value: '1468' },
              ];
      try {
        const r = await tftpGet({
          port: 69,
          host: plan.server,
          file: f.name,
          options,
          bindAddress: c.ip,
          timeoutMs: 1000,
          maxRetries: 30,
          discard: true,
          ...(f.probe ? { probe: true } : {}),
        });
        const blk = f.mode === 'blk1468' ? 1468 : 512;
        const blocks = Math.floor(r.bytes / blk) + 1;
        if (!f.probe && !f.missing) serverRetransmits += Math.max(0, r.dataPackets - blocks);
        clientRetransmits += r.retransmits;
        tftpBytes += r.bytes;
        if (r.error && !f.missing) failures.push(`${f.name}: error ${r.error.code} ${r.error.message}`);
        if (!r.error && f.missing) failures.push(`${f.name}: expected not found`);
      } catch (e) {
        failures.push(`${f.name}: ${(e as Error).message}`);
      }
    }
    const tftpDoneMs = now();
    // 3. HTTP runtime
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: plan.server, port: 8080, path: `/${plan.httpFile}`, localAddress: c.ip }, (res) => {
        if (res.statusCode !== 200) failures.push(`http ${res.statusCode}`);
        res.on('data', (d: Buffer) => (httpBytes += d.length));
        res.on('end', resolve);
        res.on('error', (e) => (failures.push(`http ${e.message}`), resolve()));
      });
      req.setTimeout(120_000, () => req.destroy(new Error('timeout')));
      req.on('error', (e) => (failures.push(`http ${e.message}`), resolve()));
      req.end();
    });
    return { ip: c.ip, model: c.model, offerMs, tftpDoneMs, doneMs: now(), failures, discovers, serverRetransmits, clientRetransmits, tftpBytes, httpBytes };
  };

  const results = await Promise.all(plan.clients.map(one));
  dhcp.close();
  process.stdout.write(JSON.stringify(results) + '\n');
}

await main();

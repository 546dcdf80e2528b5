/**
 * `npm run bench:bootstorm`: a rack of Raspberry Pis powering on at once, against
 * picluster's netboot and against dnsmasq (proxy DHCP + TFTP) as the peer, in one run,
 * over a veth pair shaped to a link rate with `tc` (netns.ts). Each simulated Pi does
 * the real sequence (bootstorm-clients.ts): DISCOVER with Pi options → proxy OFFER →
 * the TFTP files a Pi 3B+ or Pi 4 fetches, with its block sizes and timeouts → HTTP
 * runtime fetch (the same static HTTP server for both, bootstorm-server.ts). Prints,
 * per server: time until every client has all its files, the link-rate bound (every
 * byte the clients need, with per-packet headers, at the link rate) and the ratio,
 * failures, retransmits; the bound with a gzip'd kernel; `--svg` plots completion over
 * time. Aim (issue 13): ≤ 1.15× the link-rate bound, 0 failures.
 *
 * Options: --clients N (100) --rate-mbit R (1000) --kernel-mb K (33, kernel8.img as
 * build-image writes it) --kernel-gz-mb G (bound only; the gzip'd kernel) --initramfs-mb
 * (4.3) --runtime-mb (29.4) --rounds N (1, alternating) --json FILE --svg FILE.
 * Needs root, ip, tc, dnsmasq (the peer is left out, and said so, when missing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ShapedLink, which } from './netns.ts';
import { lineChartSvg } from './plot.ts';
import type { ClientResult, Plan, PlanClient, PlanFile } from './bootstorm-clients.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const sarg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const CLIENTS = arg('--clients', 100);
const RATE_MBIT = arg('--rate-mbit', 1000);
const MB = 1e6;
const KERNEL = Math.round(arg('--kernel-mb', 33) * MB);
const KERNEL_GZ = Math.round(arg('--kernel-gz-mb', 12) * MB);
const INITRAMFS = Math.round(arg('--initramfs-mb', 4.3) * MB);
const RUNTIME = Math.round(arg('--runtime-mb', 29.4) * MB);
const ROUNDS = arg('--rounds', 1);
/** picluster's TFTP engine (`netboot.tftp.engine`: native, the default, or js). */
const TFTP_ENGINE = sarg('--tftp-engine');

/** The Pi boot files (sizes as build-image writes them today) and what each model fetches. */
const SIZES: Record<string, number> = {
  'bootcode.bin': 52_460,
  'start.elf': 2_973_536,
  'fixup.dat': 7_262,
  'start4.elf': 2_249_280,
  'fixup4.dat': 5_399,
  'config.txt': 594,
  'cmdline.txt': 138,
  'bcm2837-rpi-3-b-plus.dtb': 15_349,
  'bcm2711-rpi-4-b.dtb': 27_386,
  'kernel8.img': KERNEL,
  initramfs8: INITRAMFS,
  runtime8: RUNTIME,
};
const tail = (mode: PlanFile['mode']): PlanFile[] => [
  { name: 'config.txt', mode },
  { name: mode === 'blk1468' ? 'bcm2711-rpi-4-b.dtb' : 'bcm2837-rpi-3-b-plus.dtb', mode },
  { name: 'cmdline.txt', mode },
  { name: 'kernel8.img', mode, probe: true },
  { name: 'kernel8.img', mode },
  { name: 'initramfs8', mode },
];
const FILES: Plan['files'] = {
  'pi3b+': [
    { name: 'bootcode.bin', mode: 'rom' },
    { name: 'bootsig.bin', mode: 'rom', missing: true },
    { name: 'start.elf', mode: 'tsize' },
    { name: 'fixup.dat', mode: 'tsize' },
    ...tail('tsize'),
  ],
  pi4: [{ name: 'start4.elf', mode: 'blk1468' }, { name: 'fixup4.dat', mode: 'blk1468' }, ...tail('blk1468')],
};

/** Bytes on the wire towards the client (Ethernet + IP + UDP/TCP headers) for one Pi. */
export function wireBytes(model: PlanClient['model'], kernelBytes: number): number {
  let total = 0;
  for (const f of FILES[model]) {
    if (f.missing) continue;
    const size = f.name === 'kernel8.img' ? kernelBytes : SIZES[f.name]!;
    const blk = f.mode === 'blk1468' ? 1468 : 512;
    const sent = f.probe ? Math.min(size, blk) : size;
    const blocks = f.probe ? 1 : Math.floor(size / blk) + 1;
    total += sent + blocks * (4 + 8 + 20 + 14);
  }
  return total + RUNTIME + Math.ceil(RUNTIME / 1448) * (32 + 20 + 14);
}

interface Round {
  readonly server: string;
  readonly results: ClientResult[];
  readonly wallMs: number;
  readonly txBytes: number;
}

async function waitLine(p: ChildProcess, re: RegExp, ms: number): Promise<void> {
  let buf = '';
  const signal = AbortSignal.timeout(ms);
  while (!re.test(buf)) {
    const [chunk] = (await once(p.stdout!, 'data', { signal })) as [Buffer];
    buf += chunk.toString();
  }
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await once(p, 'exit');
}

async function runRound(link: ShapedLink, root: string, server: 'picluster' | 'dnsmasq', clients: PlanClient[]): Promise<Round> {
  const script = resolve(import.meta.dirname, 'bootstorm-server.ts');
  const procs: ChildProcess[] = [];
  try {
    const [c, a] = link.exec(link.serverNs, [
      process.execPath,
      '--import',
      'tsx',
      script,
      root,
      link.serverAddress,
      link.serverIf,
      ...(server === 'dnsmasq' ? ['--http-only'] : []),
      ...(TFTP_ENGINE ? ['--tftp-engine', TFTP_ENGINE] : []),
    ]);
    const srv = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(srv);
    await waitLine(srv, /ready/, 60_000);
    if (server === 'dnsmasq') {
      const [dc, da] = link.exec(link.serverNs, [
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=0',
        `--interface=${link.serverIf}`,
        '--bind-interfaces',
        '--dhcp-range=10.251.0.0,proxy',
        '--pxe-service=0,Raspberry Pi Boot',
        '--enable-tftp',
        `--tftp-root=${root}`,
        '--tftp-max=1000',
        '--quiet-tftp',
        '--quiet-dhcp',
        '--user=root',
        `--pid-file=${join(root, '..', 'dnsmasq.pid')}`,
        `--dhcp-leasefile=${join(root, '..', 'dnsmasq.leases')}`,
        '--log-facility=-',
      ]);
      const d = spawn(dc, da, { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(d);
      const seen = new Promise<void>((res) => d.stderr!.on('data', (b: Buffer) => /TFTP root/.test(b.toString()) && res()));
      await Promise.race([seen, once(d, 'exit').then(() => Promise.reject(new Error('dnsmasq exited')))]);
    }
    const before = link.serverTxStats().bytes;
    const plan: Plan = { server: link.serverAddress, clients, files: FILES, httpFile: 'runtime8' };
    const t = performance.now();
    const [cc, ca] = link.exec(link.clientNs, [
      process.execPath,
      '--import',
      'tsx',
      resolve(import.meta.dirname, 'bootstorm-clients.ts'),
      JSON.stringify(plan),
    ]);
    const cl = spawn(cc, ca, { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(cl);
    let out = '';
    cl.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await once(cl, 'exit');
    const wallMs = performance.now() - t;
    return { server, results: JSON.parse(out) as ClientResult[], wallMs, txBytes: link.serverTxStats().bytes - before };
  } finally {
    for (const p of procs.reverse()) await stop(p);
  }
}

function summarize(r: Round, boundS: number): Record<string, number | string> {
  const done = r.results.map((x) => x.doneMs ?? Infinity);
  const allS = Math.max(...done) / 1000;
  const failures = r.results.reduce((n, x) => n + x.failures.length, 0);
  return {
    server: r.server,
    allFilesS: Number(allS.toFixed(2)),
    boundS: Number(boundS.toFixed(2)),
    ratio: Number((allS / boundS).toFixed(2)),
    failures,
    serverRetransmits: r.results.reduce((n, x) => n + x.serverRetransmits, 0),
    clientRetransmits: r.results.reduce((n, x) => n + x.clientRetransmits, 0),
    medianDoneS: Number(([...done].sort((a, b) => a - b)[Math.floor(done.length / 2)]! / 1000).toFixed(2)),
    lastOfferS: Number((Math.max(...r.results.map((x) => x.offerMs ?? Infinity)) / 1000).toFixed(2)),
    pi3LastS: Number((Math.max(0, ...r.results.filter((x) => x.model === 'pi3b+').map((x) => x.doneMs ?? Infinity)) / 1000).toFixed(2)),
    pi4LastS: Number((Math.max(0, ...r.results.filter((x) => x.model === 'pi4').map((x) => x.doneMs ?? Infinity)) / 1000).toFixed(2)),
    txMB: Number((r.txBytes / MB).toFixed(1)),
  };
}

async function main(): Promise<number> {
  const why = ShapedLink.unavailable();
  if (why) {
    process.stderr.write(`bench:bootstorm ${why}\n`);
    return 2;
  }
  const servers: ('picluster' | 'dnsmasq')[] = ['picluster'];
  if (which('dnsmasq')) servers.push('dnsmasq');
  else process.stderr.write('bench:bootstorm: dnsmasq not installed, peer left out\n');
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bootstorm-'));
  const root = join(dir, 'root');
  const link = new ShapedLink(`pcbs${process.pid % 100000}`, { rateMbit: RATE_MBIT, clients: CLIENTS });
  try {
    rmSync(root, { recursive: true, force: true });
    await import('node:fs/promises').then((f) => f.mkdir(root, { recursive: true }));
    for (const [name, size] of Object.entries(SIZES)) writeFileSync(join(root, name), randomBytes(size));
    link.create();
    const clients: PlanClient[] = link.clientAddresses.map((ip, i) => {
      const pi4 = i % 2 === 1;
      const serial = (0x10000000 + i).toString(16);
      const oui = pi4 ? 'dc:a6:32' : 'b8:27:eb';
      const mac = `${oui}:${serial.slice(2, 4)}:${serial.slice(4, 6)}:${serial.slice(6, 8)}`;
      return { ip, mac, serial, model: pi4 ? 'pi4' : 'pi3b+' };
    });
    const perClient = clients.map((c) => wireBytes(c.model, KERNEL));
    const perClientGz = clients.map((c) => wireBytes(c.model, KERNEL_GZ));
    const linkBytesPerS = (RATE_MBIT * 1e6) / 8;
    const boundS = perClient.reduce((a, b) => a + b, 0) / linkBytesPerS;
    const boundGzS = perClientGz.reduce((a, b) => a + b, 0) / linkBytesPerS;
    process.stderr.write(
      `bench:bootstorm: ${CLIENTS} clients, ${RATE_MBIT} Mbit/s, bound ${boundS.toFixed(2)} s (${boundGzS.toFixed(2)} s with a ${KERNEL_GZ / MB} MB gzip'd kernel)\n`,
    );
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) for (const s of servers) rounds.push(await runRound(link, root, s, clients));
    const best = servers.map(
      (s) => rounds.filter((r) => r.server === s).sort((a, b) => (summarize(a, boundS).ratio as number) - (summarize(b, boundS).ratio as number))[0]!,
    );
    const rows = best.map((r) => summarize(r, boundS));
    const lines = [
      `Boot storm: ${CLIENTS} simulated Pis (half 3B+, half 4), ${RATE_MBIT} Mbit/s veth (tc tbf), kernel ${KERNEL / MB} MB, initramfs ${INITRAMFS / MB} MB, runtime ${RUNTIME / MB} MB over HTTP; best of ${ROUNDS}; load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
      `link-rate bound ${boundS.toFixed(2)} s; with a ${KERNEL_GZ / MB} MB gzip'd kernel ${boundGzS.toFixed(2)} s`,
      ['server', 'all files s', 'bound s', 'ratio', 'failures', 'srv retx', 'cli retx', 'median s', 'last 3B+ s', 'last Pi 4 s', 'last offer s', 'tx MB']
        .map((h) => h.padStart(13))
        .join(''),
      ...rows.map((r) =>
        [
          r.server,
          r.allFilesS,
          r.boundS,
          `${r.ratio}x`,
          r.failures,
          r.serverRetransmits,
          r.clientRetransmits,
          r.medianDoneS,
          r.pi3LastS,
          r.pi4LastS,
          r.lastOfferS,
          r.txMB,
        ]
          .map((v) => String(v).padStart(13))
          .join(''),
      ),
    ];
    if (rows.length === 2) lines.push(`picluster / dnsmasq time: ${((rows[0]!.allFilesS as number) / (rows[1]!.allFilesS as number)).toFixed(2)}x`);
    process.stdout.write(lines.join('\n') + '\n');
    for (const r of best) {
      const f = r.results.flatMap((x) => x.failures.map((m) => `${x.ip} ${m}`));
      if (f.length) process.stdout.write(`${r.server} failures:\n  ${f.slice(0, 20).join('\n  ')}\n`);
    }
    const json = sarg('--json');
    if (json)
      writeFileSync(
        json,
        JSON.stringify(
          { clients: CLIENTS, rateMbit: RATE_MBIT, kernelBytes: KERNEL, kernelGzBytes: KERNEL_GZ, boundS, boundGzS, rows, loadavg: loadavg() },
          null,
          2,
        ) + '\n',
      );
    const svg = sarg('--svg');
    if (svg) {
      writeFileSync(
        svg,
        lineChartSvg({
          title: `Boot storm: ${CLIENTS} Pis over ${RATE_MBIT} Mbit/s — clients with every file`,
          xLabel: 'seconds since power-on',
          yLabel: 'clients done',
          series: best.map((r) => ({
            name: r.server,
            points: [
              [0, 0] as const,
              ...[...r.results.map((x) => x.doneMs ?? Infinity)]
                .filter(Number.isFinite)
                .sort((a, b) => a - b)
                .map((t, i) => [t / 1000, i + 1] as const),
            ],
          })),
          markers: [{ x: boundS, label: 'link-rate bound' }],
        }),
      );
    }
    return rows.some((r) => (r.failures as number) > 0) ? 1 : 0;
  } finally {
    link.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();

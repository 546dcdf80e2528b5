/**
 * `netboot.dhcp` configuration (TypeBox schema + defaults).
 *
 * DHCP is hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's
 * DISCOVER, has no proxy mode and ACKs requests meant for other servers): see codec.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Ipv4 = Type.String({ format: 'ipv4' });
const Oui = Type.String({ pattern: '^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$' });

/**
 * `netboot.dhcp` section. Every key has a default so the minimal config
 * `netboot: { interface, mode, tftpRoot, clients }` is enough.
 */
export const DhcpConfigSchema = Type.Object(
  {
    /** Server port (67 in production; tests bind unprivileged ports, 0 = ephemeral). */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 67 }),
    /** Port replies are sent to (68 in production). */
    clientPort: Type.Integer({ minimum: 1, maximum: 65535, default: 68 }),
    /** Menu text of PXE option 43 sub-option 9 for Pis. */
    menuText: Type.String({ minLength: 1, maxLength: 200, default: 'Raspberry Pi Boot' }),
    /**
     * PXE boot-server port (proxyDHCP REQUESTs from UEFI firmware and iPXE arrive here, as
     * with dnsmasq). `null` disables it; 0 = ephemeral (tests).
     */
    pxePort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], { default: 4011 }),
    /** Where broadcast replies go. Tests on loopback set 127.0.0.1. */
    broadcastAddress: Type.String({ format: 'ipv4', default: '255.255.255.255' }),
    /** MAC OUIs (lowercase `aa:bb:cc`) that mark a PXE client as a Raspberry Pi. */
    piOuis: Type.Array(Oui, { default: ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', '28:cd:c1', 'd8:3a:dd', '2c:cf:67'] }),
    /**
     * Reply delay per OUI for Pi boot ROMs. The Pi 3 ROM loops when the DHCP reply and the
     * TFTP answer arrive within ~2 s (fw#934, fw#764); dnsmasq's `dhcp-reply-delay` and
     * piserver's 1 s for b8:27:eb only (piserver b6adf0a) fix it. Other OUIs: no delay.
     * Configured entries are merged over the default; `'b8:27:eb': 0` turns it off.
     */
    replyDelayMs: Type.Record(Oui, Type.Integer({ minimum: 0, maximum: 10_000 }), { default: { 'b8:27:eb': 1000 } }),
    /**
     * TFTP boot file names for non-Pi PXE firmware, by RFC 4578 architecture. The defaults are
     * what `npm run build-image` puts in the TFTP root (image/build/pxe-loaders.ts): Debian's
     * iPXE for x86, a GRUB netboot image for arm64 UEFI (Debian packages no arm64 iPXE).
     */
    bootFiles: Type.Object(
      {
        bios: Type.String({ minLength: 1, maxLength: 127, default: 'undionly.kpxe' }),
        x64Uefi: Type.String({ minLength: 1, maxLength: 127, default: 'ipxe.efi' }),
        arm64Uefi: Type.String({ minLength: 1, maxLength: 127, default: 'grubnetaa64.efi' }),
      },
      { default: {} },
    ),
    /** Option 77 content that marks iPXE. */
    ipxeUserClass: Type.String({ minLength: 1, default: 'iPXE' }),
    /**
     * Boot file URL for iPXE clients. `{server}` and `{httpPort}` are filled in by picluster;
     * `${net0/mac}` is expanded by iPXE itself.
     */
    ipxeScriptUrl: Type.String({ minLength: 1, default: 'http://{server}:{httpPort}/boot/ipxe?mac=${net0/mac}' }),
    /** Port of picluster's HTTP server (the `/boot/*` routes). */
    httpPort: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
    /**
     * Full-DHCP-mode lease file (JSON). Unset: leases live in memory only. The master points
     * it into its data dir (e.g. `data/dhcp-leases.json`).
     */
    leaseFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Full DHCP mode (`netboot.mode: full`), for an isolated cluster LAN. */
    full: Type.Object(
      {
        /** Dynamic range, inclusive. Reservations (inventory `ipv4`) should lie outside it. */
        rangeStart: Type.Optional(Ipv4),
        rangeEnd: Type.Optional(Ipv4),
        subnetMask: Type.String({ format: 'ipv4', default: '255.255.255.0' }),
        router: Type.Optional(Ipv4),
        dnsServers: Type.Array(Ipv4, { default: [] }),
        domainName: Type.Optional(Type.String({ minLength: 1 })),
        leaseTimeSec: Type.Integer({ minimum: 60, default: 3600 }),
        /** How long an OFFERed address stays reserved for the client. */
        offerHoldMs: Type.Integer({ minimum: 1000, default: 60_000 }),
        /** How long a DECLINEd address (in use by someone else) is kept out of the pool. */
        declineHoldMs: Type.Integer({ minimum: 0, default: 600_000 }),
      },
      { default: {} },
    ),
  },
  { default: {}, additionalProperties: false },
);
export type DhcpConfig = Static<typeof DhcpConfigSchema>;

/** What a caller may leave out: every key, nested ones too. */
export type DhcpConfigInput = Partial<Omit<DhcpConfig, 'full' | 'bootFiles'>> & {
  full?: Partial<DhcpConfig['full']>;
  bootFiles?: Partial<DhcpConfig['bootFiles']>;
};

/** `netboot.dhcp` with every default filled in (tests, and callers that skip the loader). */
export function dhcpConfig(partial: DhcpConfigInput = {}): DhcpConfig {
  return Value.Default(DhcpConfigSchema, structuredClone(partial)) as DhcpConfig;
}

/**
 * What netboot asks of the cluster, answered from the Dispatcher's nodes: who is known (by
 * MAC or Pi serial), who is approved, and the per-node boot files. A node's `cmdline.txt`
 * (Pi), `grub.cfg` (arm64 UEFI, fetched by GRUB as `<aa-bb-…>/grub.cfg`) and iPXE script (x86)
 * are the image's templates filled with the node's name, its token and the dispatcher URL — the LAN-trust model documented in docs/security.md.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deriveNodeToken } from '../common/tokens.ts';
import type { NetbootNode, NodeDirectory } from '../netboot/node-directory.ts';
import type { Dispatcher } from './dispatcher.ts';
// The image defines the templates' `{{placeholders}}`; one filler (common/) serves both sides.
import { fillTemplate } from '../common/template.ts';

export interface DirectoryOptions {
  readonly dispatcher: Dispatcher;
  readonly clusterSecret: string;
  /** ws://host:port/agent as nodes must see it (a function: the port may be known only after listen). */
  readonly dispatcherUrl: () => string;
  /** http://host:port/boot as nodes must see it (with TLS: the plain boot port). */
  readonly bootUrl: () => string;
  /** With TLS: the pin of the master's certificate, given to agents as `picluster.tlspin=`. */
  readonly tlsPin?: () => string | undefined;
  /** The shared TFTP root (for the cmdline.txt template). */
  readonly tftpRoot: string;
  /** The /boot HTTP root (for amd64/boot.ipxe). */
  readonly httpRoot: string;
}

class TemplateFile {
  private cached: { mtimeMs: number; size: number; text: string } | undefined;
  constructor(private readonly path: string) {}
  text(): string | undefined {
    try {
      const st = statSync(this.path);
      if (!this.cached || this.cached.mtimeMs !== st.mtimeMs || this.cached.size !== st.size) {
        this.cached = { mtimeMs: st.mtimeMs, size: st.size, text: readFileSync(this.path, 'utf8') };
      }
      return this.cached.text;
    } catch {
      return undefined;
    }
  }
}

export class DispatcherNodeDirectory implements NodeDirectory {
  private readonly cmdline: TemplateFile;
  private readonly ipxe: TemplateFile;
  private readonly grub: TemplateFile;

  constructor(private readonly o: DirectoryOptions) {
    this.cmdline = new TemplateFile(join(o.tftpRoot, 'cmdline.txt'));
    this.ipxe = new TemplateFile(join(o.httpRoot, 'amd64', 'boot.ipxe'));
    this.grub = new TemplateFile(join(o.tftpRoot, 'grub.cfg'));
  }

  private toNetbootNode(name: string): NetbootNode | undefined {
    const v = this.o.dispatcher.findNode(name);
    if (!v || !v.mac) return undefined;
    return {
      name: v.name,
      mac: v.mac,
      ...(v.serial ? { serial: v.serial } : {}),
      ...(v.model ? { model: v.model } : {}),
      ...(v.ipv4 ? { ipv4: v.ipv4 } : {}),
      approved: v.state !== 'pending-approval',
    };
  }

  findByMac(mac: string): NetbootNode | undefined {
    const name = this.o.dispatcher.nodeNameBy({ mac });
    return name ? this.toNetbootNode(name) : undefined;
  }

  findBySerial(serial: string): NetbootNode | undefined {
    const name = this.o.dispatcher.nodeNameBy({ serial });
    return name ? this.toNetbootNode(name) : undefined;
  }

  enroll(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): void {
    this.o.dispatcher.enrollPending(client);
  }

  values(node: Pick<NetbootNode, 'name'>): Record<string, string> {
    const pin = this.o.tlsPin?.();
    return {
      dispatcherUrl: this.o.dispatcherUrl(),
      nodeName: node.name,
      token: deriveNodeToken(this.o.clusterSecret, node.name),
      bootUrl: this.o.bootUrl(),
      ...(pin ? { tlsPin: pin } : {}),
    };
  }

  /**
   * With TLS on, every kernel command line (cmdline.txt, grub.cfg, the iPXE script) also carries
   * the pin the agent verifies the master by, and the plain /boot URL /init fetches the runtime
   * from (the dispatcher's own port speaks TLS). Added after `picluster.token=` so image
   * templates need no TLS placeholders.
   */
  private fill(template: string, node: Pick<NetbootNode, 'name'>): string {
    const values = this.values(node);
    const t = values.tlsPin
      ? template.replaceAll('picluster.token={{token}}', 'picluster.token={{token}} picluster.tlspin={{tlsPin}} picluster.boot={{bootUrl}}')
      : template;
    return fillTemplate(t, values);
  }

  renderNodeFile(node: NetbootNode, file: string): Buffer | undefined {
    if (!node.approved) return undefined;
    if (file === 'cmdline.txt') {
      const template =
        this.cmdline.text() ??
        'console=tty1 console=ttyS1,115200 picluster.dispatcher={{dispatcherUrl}} picluster.name={{nodeName}} picluster.token={{token}}\n';
      return Buffer.from(this.fill(template, node));
    }
    if (file === 'grub.cfg') {
      const template = this.grub.text();
      return template === undefined ? undefined : Buffer.from(this.fill(template, node));
    }
    return undefined;
  }

  /** The iPXE script for an x86 node, or undefined when the MAC is unknown or not approved. */
  ipxeScript(mac: string): string | undefined {
    const node = this.findByMac(mac);
    if (!node || !node.approved) return undefined;
    const template = this.ipxe.text();
    if (!template) return undefined;
    return this.fill(template, node);
  }
}

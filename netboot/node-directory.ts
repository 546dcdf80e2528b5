/**
 * What netboot needs to know about the cluster, without importing the inventory or the
 * dispatcher: who is a known node, and what their per-node files contain. The master
 * wires this to the inventory + store; standalone `picluster netboot` to the inventory file.
 */
export interface NetbootNode {
  readonly name: string;
  readonly mac: string; // aa:bb:cc:dd:ee:ff
  readonly serial?: string; // 8 lowercase hex
  readonly model?: string; // e.g. 'pi3b+', 'pi4', 'pi5', 'x86-64'
  /** Full-DHCP mode reservation. */
  readonly ipv4?: string;
  /** `pending-approval` nodes are known but not answered until approved. */
  readonly approved: boolean;
}

export interface NodeDirectory {
  findByMac(mac: string): NetbootNode | undefined;
  findBySerial(serial: string): NetbootNode | undefined;
  /**
   * Called for an unknown PXE client when enrollment is on; the master records it as
   * `pending-approval`. Must be cheap and never throw.
   */
  enroll?(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): void;
  /**
   * Generated per-node file contents (e.g. `cmdline.txt`, `config.txt`), or undefined
   * to fall back to the shared file of that name.
   */
  renderNodeFile?(node: NetbootNode, file: string): Buffer | undefined;
}

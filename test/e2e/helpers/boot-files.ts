/**
 * A master with netboot enabled refuses to start while a file it advertises is missing
 * (dispatcher/boot-files-check.ts). Suites that test netboot without a built image fill their
 * temp roots with placeholders of every advertised file they do not write themselves.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { advertisedBootFiles } from '../../../dispatcher/boot-files-check.ts';
import { dhcpConfig } from '../../../netboot/dhcp/config.ts';

/** Placeholders under root (tftpRoot root/pi, httpRoot root) for every advertised file that is absent. */
export function writePlaceholderBootFiles(root: string): void {
  for (const f of advertisedBootFiles({ tftpRoot: join(root, 'pi'), httpRoot: root, dhcp: dhcpConfig() })) {
    if (existsSync(f.path)) continue;
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, `placeholder: ${f.what}\n`);
  }
}

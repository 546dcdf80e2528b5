/**
 * Stand-in agent used by build-image only while node-agent/main.ts does not exist: prints a
 * marker with what it would connect to and the memory it sees, then idles. Connects nowhere.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';

const version = process.env.PICLUSTER_IMAGE_VERSION ?? readFileSync('/etc/picluster/image-version', 'utf8').trim();
process.stdout.write(
  `picluster-agent-placeholder: up node=${process.version} image=${version} flags=${process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .join(',')} memTotal=${totalmem()} memFree=${freemem()}\n`,
);
setInterval(() => undefined, 1 << 30);

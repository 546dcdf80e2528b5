// Entry point of this tree's build steps (the board scripts and package/picluster-agent call
// it with the host's node). The steps are TypeScript sharing image/build's code, run through
// tsx's loader as bin/picluster.js does; tsx resolves from this checkout's node_modules.
import { register } from 'tsx/esm/api';

const STEPS = {
  'post-build': './post-build.ts',
  'post-fakeroot': './post-fakeroot.ts',
  'post-image': './post-image.ts',
  'install-agent': './install-agent.ts',
};

register();
const [step, ...args] = process.argv.slice(2);
const module = step ? STEPS[step] : undefined;
if (!module) {
  process.stderr.write(`usage: run.mjs ${Object.keys(STEPS).join('|')} <args>\n`);
  process.exit(2);
}
try {
  const { main } = await import(module);
  process.exitCode = await main(args, process.env);
} catch (e) {
  // typed build errors carry a stable code (image/build/errors.ts)
  process.stderr.write(`${e?.code ?? 'ERROR'}: ${e?.message ?? e}\n`);
  process.exitCode = 1;
}

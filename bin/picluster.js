#!/usr/bin/env node
// Entry point of the `picluster` command. The code base is TypeScript run through tsx's
// loader, so there is no build step between a checkout and a running master.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;

/**
 * The agent's version: package.json's, inlined by esbuild when the agent is bundled into the
 * netboot image (only this JSON import pulls package.json in; nothing else of it is used).
 */
import pkg from '../package.json' with { type: 'json' };

export const AGENT_VERSION: string = String(pkg.version).slice(0, 32);

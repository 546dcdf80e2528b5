/**
 * How the agent reads /proc and /sys: one injectable function, so identity and health are tested
 * against fixture files. A missing or unreadable file is `undefined`, never an error — most of
 * these sources exist only on Linux, and several only on a Pi.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface FileSource {
  readFile(path: string): Promise<string | undefined>;
  readdir(path: string): Promise<string[] | undefined>;
}

export const systemFiles: FileSource = {
  readFile: async (path) => {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  readdir: async (path) => {
    try {
      return await readdir(path);
    } catch {
      return undefined;
    }
  },
};

/** A FileSource over an in-memory map (tests, fixtures). Directories are derived from the paths. */
export function fixtureFiles(files: Readonly<Record<string, string>>): FileSource {
  return {
    readFile: async (path) => files[path],
    readdir: async (path) => {
      const prefix = path.endsWith('/') ? path : `${path}/`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0]!);
      return names.size > 0 ? [...names].sort() : undefined;
    },
  };
}

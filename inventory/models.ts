/** What picluster knows about node models: CPUs (default slots), memory, architecture. */
export const MODELS = {
  pi3b: { cpus: 4, memoryMb: 1024, arch: 'arm64', ouis: ['b8:27:eb'] },
  'pi3b+': { cpus: 4, memoryMb: 1024, arch: 'arm64', ouis: ['b8:27:eb'] },
  pi4: { cpus: 4, memoryMb: 4096, arch: 'arm64', ouis: ['dc:a6:32', 'e4:5f:01', '28:cd:c1'] },
  pi5: { cpus: 4, memoryMb: 8192, arch: 'arm64', ouis: ['d8:3a:dd', '2c:cf:67'] },
  'x86-64': { cpus: 4, memoryMb: 4096, arch: 'x64', ouis: [] },
  arm64: { cpus: 4, memoryMb: 4096, arch: 'arm64', ouis: [] },
  other: { cpus: 1, memoryMb: 1024, arch: 'unknown', ouis: [] },
} as const;

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS) as ModelName[];

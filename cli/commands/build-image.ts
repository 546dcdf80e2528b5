/**
 * `picluster build-image [--arch arm64|amd64|all] [--out image/dist] [--cache image/.cache]
 *                        [--agent-entry file.ts] [--refresh] [--rebuild-runtime] [--config picluster.yaml]
 *                        [--package NAME]…`
 * Builds the RAM-only netboot image (see image/README.md). Progress goes to stderr; the
 * last line on stdout is a one-line JSON summary per arch (image version, output sizes).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../common/config.ts';
import { PackageMissingError } from '../../image/build/errors.ts';
import { formatBytes } from '../../image/build/progress.ts';
import { mergePackageLists, packageNameProblem } from '../../image/build/packages.ts';
import { buildImage, DEFAULT_CACHE_DIR, DEFAULT_OUT_DIR, BUILD_STEPS } from '../../image/build/build.ts';
import { DEFAULT_SOURCE_DATE_EPOCH, parseArch, SUPPORTED_ARCHES, type Arch } from '../../image/build/inputs.ts';
import { streamProgress } from '../../image/build/progress.ts';

const HELP = `usage: picluster build-image [options]

  --arch <arm64|amd64|all>   what to build (default all: arm64 for Pis, arm64 UEFI and the
                             TFTP root with every PXE loader; amd64 for x86 PXE machines)
  --out <dir>                output directory (default image/dist)
  --cache <dir>              download/build cache (default image/.cache)
  --agent-entry <file>       agent entry to bundle (default node-agent/main.ts)
  --refresh                  re-download the Debian package lists even if fresh
  --rebuild-runtime          make the runtime squashfs and the layers afresh even when the
                             cache has them (a reproducibility check: compare with a normal
                             build; the image e2e does, and CI makes this one in the background)
  --config <file>            picluster.yaml whose image.packages lists the package layer
                             (default: ./picluster.yaml or PICLUSTER_CONFIG when present;
                             without one: python3-minimal, libpython3-stdlib)
  --package <name>           add a Debian package (and its dependencies) to the package
                             layer; repeatable
  SOURCE_DATE_EPOCH          timestamps in the image (default ${DEFAULT_SOURCE_DATE_EPOCH})
`;

export async function run(argv: string[]): Promise<number | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: 'string', default: 'all' },
      out: { type: 'string', default: DEFAULT_OUT_DIR },
      cache: { type: 'string', default: DEFAULT_CACHE_DIR },
      'agent-entry': { type: 'string' },
      refresh: { type: 'boolean', default: false },
      'rebuild-runtime': { type: 'boolean', default: false },
      config: { type: 'string' },
      package: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = values.config ?? process.env.PICLUSTER_CONFIG ?? 'picluster.yaml';
  const explicit = values.config !== undefined || process.env.PICLUSTER_CONFIG !== undefined;
  const config = loadConfig({ file, required: explicit || existsSync(file), env: process.env });
  const packages = mergePackageLists(config.image.packages, values.package);
  for (const p of packages) {
    const problem = packageNameProblem(p);
    if (problem) throw new PackageMissingError('Debian archive', p, problem);
  }
  const arches: Arch[] = values.arch === 'all' ? [...SUPPORTED_ARCHES] : values.arch.split(',').map(parseArch);
  const epochEnv = process.env.SOURCE_DATE_EPOCH;
  const sourceDateEpoch = epochEnv && /^\d+$/.test(epochEnv) ? Number(epochEnv) : DEFAULT_SOURCE_DATE_EPOCH;
  for (const arch of arches) {
    const t0 = performance.now();
    const { manifest } = await buildImage({
      arch,
      outDir: values.out,
      cacheDir: values.cache,
      sourceDateEpoch,
      ...(values['agent-entry'] ? { agentEntry: values['agent-entry'] } : {}),
      progress: streamProgress(process.stderr, arch, BUILD_STEPS),
      ...(values.refresh ? { aptListsMaxAgeMs: 0 } : {}),
      ...(values['rebuild-runtime'] ? { rebuildRuntime: true } : {}),
      packages,
    });
    const seconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    const sizes = Object.fromEntries(manifest.outputs.map((o) => [o.path, o.sizeBytes]));
    process.stderr.write(`[${arch}] image ${manifest.imageVersion} built in ${seconds}s into ${values.out}\n`);
    const layer = manifest.packages?.layer ?? null;
    if (layer) {
      process.stderr.write(
        `[${arch}] package layer ${layer.path}: ${formatBytes(layer.sizeBytes)} (${manifest.packages?.installed.length} packages, ${formatBytes(layer.unpackedBytes)} unpacked); node idle RAM cost ${formatBytes(layer.idleRamBytes)}\n`,
      );
    }
    const packagesSummary = {
      requested: packages,
      installed: manifest.packages?.installed.length ?? 0,
      layerBytes: layer?.sizeBytes ?? 0,
      idleRamCostBytes: layer?.idleRamBytes ?? 0,
    };
    process.stdout.write(
      JSON.stringify({ arch, imageVersion: manifest.imageVersion, seconds, placeholderAgent: manifest.agent.placeholder, packages: packagesSummary, sizes }) +
        '\n',
    );
  }
  return 0;
}

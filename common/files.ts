/** Job input files and artifacts as they appear on the wire (jobs' `files`, results' `artifacts`). */
import { Type, type Static } from '@sinclair/typebox';

/**
 * An input file of a job (dispy `depends` data): uploaded once to `POST /api/files`, fetched by the
 * agent into the job's scratch dir under `name` (a relative path: no `..`, `.` or empty segment).
 */
export const FILE_NAME = '^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,254}$';
export const FileRef = Type.Object(
  {
    name: Type.String({ pattern: FILE_NAME }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    sizeBytes: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  },
  { additionalProperties: false },
);
export type FileRef = Static<typeof FileRef>;

/** Why `name` is not usable as a file name in a job's directory, or undefined when it is. */
export function fileNameProblem(name: string): string | undefined {
  if (!new RegExp(FILE_NAME).test(name)) return `${JSON.stringify(name)} is not a usable file name (letters, digits, . _ - and / only, at most 255)`;
  if (name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..'))
    return `${JSON.stringify(name)} is not a relative path inside the job's directory (no empty, . or .. segments)`;
  return undefined;
}

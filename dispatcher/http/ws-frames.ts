/**
 * Browser → master frames on `ws /ui` and `ws /shell`, declared once (TypeBox) and validated on
 * receipt. Anything else — not JSON, `null`, an array, a number, an unknown `type`, a field of the
 * wrong type — gets `{type:'error', code, message}` back and is counted; it never reaches a handler.
 * Frames are small: a bigger one is dropped before it is parsed.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/** Largest browser frame accepted on /ui (watch/resync are tiny). */
export const UI_FRAME_MAX_BYTES = 4 * 1024;
/** Largest browser frame on /shell: a paste is split into frames of at most this size by the UI. */
export const SHELL_FRAME_MAX_BYTES = 1024 * 1024;

export const UiWatchFrame = Type.Object(
  { type: Type.Literal('watch'), jobId: Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()]) },
  { additionalProperties: false },
);
export const UiResyncFrame = Type.Object({ type: Type.Literal('resync') }, { additionalProperties: false });
export type UiClientFrame = Static<typeof UiWatchFrame> | Static<typeof UiResyncFrame>;

export const ShellInputFrame = Type.Object(
  { type: Type.Literal('input'), data: Type.String({ maxLength: SHELL_FRAME_MAX_BYTES }) },
  { additionalProperties: false },
);
export const ShellResizeFrame = Type.Object(
  { type: Type.Literal('resize'), cols: Type.Integer({ minimum: 1, maximum: 1000 }), rows: Type.Integer({ minimum: 1, maximum: 1000 }) },
  { additionalProperties: false },
);
export type ShellClientFrame = Static<typeof ShellInputFrame> | Static<typeof ShellResizeFrame>;

export type FrameResult<F> = { ok: true; frame: F } | { ok: false; code: 'TOO_LARGE' | 'BAD_JSON' | 'BAD_FRAME'; message: string };

type Checker = ReturnType<typeof TypeCompiler.Compile>;
const compile = (schemas: readonly TSchema[]): Map<string, Checker> =>
  new Map(schemas.map((s) => [String((s.properties as { type: { const: string } }).type.const), TypeCompiler.Compile(s)]));
const uiCheckers = compile([UiWatchFrame, UiResyncFrame]);
const shellCheckers = compile([ShellInputFrame, ShellResizeFrame]);

function parseFrame<F>(checkers: Map<string, Checker>, raw: Buffer | string, maxBytes: number): FrameResult<F> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes) return { ok: false, code: 'TOO_LARGE', message: `frame of ${size} bytes; at most ${maxBytes}` };
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, code: 'BAD_JSON', message: 'frame is not JSON' };
  }
  const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
  const checker = typeof type === 'string' ? checkers.get(type) : undefined;
  if (!checker) return { ok: false, code: 'BAD_FRAME', message: `expected a frame of type ${[...checkers.keys()].join(' or ')}` };
  if (checker.Check(value)) return { ok: true, frame: value as F };
  const first = checker.Errors(value).First();
  return {
    ok: false,
    code: 'BAD_FRAME',
    message: `invalid '${type as string}' frame: ${first ? `${first.path || '(frame)'}: ${first.message}` : 'does not match'}`,
  };
}

export const parseUiFrame = (raw: Buffer | string): FrameResult<UiClientFrame> => parseFrame(uiCheckers, raw, UI_FRAME_MAX_BYTES);
export const parseShellFrame = (raw: Buffer | string): FrameResult<ShellClientFrame> => parseFrame(shellCheckers, raw, SHELL_FRAME_MAX_BYTES);

/** A ws `message` payload as one Buffer (ws may hand over a Buffer, an ArrayBuffer or fragments). */
export function frameBytes(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(String(data));
}

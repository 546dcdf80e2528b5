/** Errors of the stores (cannot open, schema too new, broken invariant). */
import { PiclusterError } from '../../common/errors.ts';

export class StoreError extends PiclusterError {
  readonly code = 'STORE';
}

export const STORE_ERROR_CODES = ['STORE'] as const;
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

import {
  collectProducts,
  collectUsers,
  PRODUCT_COLUMN_NAMES,
  USER_COLUMN_NAMES,
} from '../attribution/dimensions/index.ts';
import type { ProductRow, UserRow } from '../attribution/event-types.ts';
import { readDimensionBatches } from '../connectors/files/dimension-file-reader.ts';

/** Users of a CSV or JSON-lines file, by id (only the columns flowmark uses are read). */
export function loadUsers(path: string): Promise<Map<string, UserRow>> {
  return collectUsers(readDimensionBatches(path, { columns: USER_COLUMN_NAMES }), path);
}

/** Products of a CSV or JSON-lines file, by id. */
export function loadProducts(path: string): Promise<Map<string, ProductRow>> {
  return collectProducts(readDimensionBatches(path, { columns: PRODUCT_COLUMN_NAMES }), path);
}

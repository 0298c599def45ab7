/**
 * Users and products: mapping records (CSV rows, JSON lines, database rows) in either reference
 * schema to `UserRow` / `ProductRow`, and whole tables with errors that name line and column.
 */

export {
  type CheckedRow,
  checkedLookup,
  checkProductRow,
  checkUserRow,
  type DimensionProblem,
} from './dimension-checks.ts';
export {
  PRODUCT_COLUMN_CANDIDATES,
  PRODUCT_COLUMN_NAMES,
  type ProductColumns,
  parseProductRecord,
  parseUserRecord,
  productColumnsOf,
  USER_COLUMN_CANDIDATES,
  USER_COLUMN_NAMES,
  type UserColumns,
  userColumnsOf,
} from './dimension-records.ts';
export { collectProducts, collectUsers, type DimensionRecord, type DimensionRecords } from './dimension-tables.ts';

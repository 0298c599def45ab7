/**
 * Drop-in output for the two reference deployments flowmark grew from: besides its own tables, a
 * job can also write the reference pipelines' own sink tables, with their exact columns, so that a
 * shop's existing queries and Grafana panels keep working when flowmark replaces its Flink job.
 * Their rows are sink rows like any other: written in the same checkpoint transaction as
 * `attributed_checkouts`, exactly once (ARCHITECTURE §3.7).
 *
 * - `tutorial`: the tutorial's `commerce.attributed_checkouts` (checkout_id, user_name, click_id,
 *   product_id, payment_method, total_amount DECIMAL(5, 2), shipping_address, billing_address,
 *   user_agent, ip_address, checkout_time, click_time);
 * - `insights`: the insights variant's `shop.checkout_attribution` (checkout_id, user_id,
 *   product_id, quantity, total_amount, payment_method, payment_status, payment_description,
 *   gender, category, profit, source, checkout_timestamp, click_timestamp).
 *
 * The columns flowmark does not otherwise keep (addresses, user agent, IP address, and the payment
 * status and description as written) come from the checkout's own line, which every row carries.
 */

import { type AttributedCheckoutRow, rawEventOf, withRawEvent } from './output-rows.ts';
import type { OutputColumnType, OutputTable } from './output-schema.ts';

export const REFERENCE_TABLE_KINDS = ['tutorial', 'insights'] as const;
export type ReferenceTableKind = (typeof REFERENCE_TABLE_KINDS)[number];

/** Where a reference table is: the shop's schema and table (created by the shop's own schema file). */
export interface ReferenceTableLocation {
  schema: string;
  table: string;
}

/** The reference tables a job also writes; none by default. */
export type ReferenceTables = Partial<Record<ReferenceTableKind, ReferenceTableLocation>>;

/** The sink id of each reference table in the attribution pipeline. */
export const REFERENCE_SINK: Readonly<Record<ReferenceTableKind, string>> = {
  tutorial: 'reference_tutorial',
  insights: 'reference_insights',
};

/** Where each table is in the reference deployments' schema files (../shared/seed-formats/*.sql). */
export const REFERENCE_DEFAULT_LOCATION: Readonly<Record<ReferenceTableKind, ReferenceTableLocation>> = {
  tutorial: { schema: 'commerce', table: 'attributed_checkouts' },
  insights: { schema: 'shop', table: 'checkout_attribution' },
};

/** A row of the tutorial's `attributed_checkouts`. */
export interface TutorialRow {
  checkout_id: string;
  user_name: string | null;
  click_id: string | null;
  product_id: string;
  payment_method: string | null;
  total_amount: number | null;
  shipping_address: string | null;
  billing_address: string | null;
  user_agent: string | null;
  ip_address: string | null;
  /** UTC wall-clock time: the column is `TIMESTAMP` (no zone), as the tutorial's times are. */
  checkout_time: string;
  click_time: string | null;
}

/** A row of the insights variant's `checkout_attribution`. */
export interface InsightsRow {
  checkout_id: string;
  user_id: string;
  product_id: string;
  quantity: number;
  total_amount: number | null;
  payment_method: string | null;
  payment_status: string;
  payment_description: string | null;
  gender: string | null;
  category: string | null;
  profit: number | null;
  source: string | null;
  checkout_timestamp: string;
  click_timestamp: string | null;
}

/** The checkout's own line as an object (every row carries it); empty if it has none. */
function checkoutFields(row: AttributedCheckoutRow): Record<string, unknown> {
  const raw = rawEventOf(row);
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A text field of the checkout's line as written; anything but a string is null. */
function textOf(fields: Record<string, unknown>, name: string): string | null {
  const v = fields[name];
  return typeof v === 'string' ? v.replaceAll('\u0000', '\uFFFD') : null;
}

/**
 * The tutorial's row of an attributed checkout. `total_amount` is flowmark's order value (the
 * checkout's `total_amount` rounded to cents, when it carries one); a value beyond the column's
 * DECIMAL(5, 2) is refused by the database and becomes a `rejected_by_database` dead letter.
 */
export function tutorialRow(row: AttributedCheckoutRow): TutorialRow {
  const f = checkoutFields(row);
  return {
    checkout_id: row.checkout_id,
    user_name: row.user_name,
    click_id: row.click_id,
    product_id: row.product_id,
    payment_method: row.payment_method,
    total_amount: row.order_value,
    shipping_address: textOf(f, 'shipping_address'),
    billing_address: textOf(f, 'billing_address'),
    user_agent: textOf(f, 'user_agent'),
    ip_address: textOf(f, 'ip_address'),
    checkout_time: row.checkout_time,
    click_time: row.click_time,
  };
}

/**
 * The insights variant's row. `payment_status` and `payment_description` are as the checkout
 * wrote them (`Success`, `"None"`), so the shop's panels that filter on them keep working;
 * `total_amount` is the order value and `profit` flowmark's; `source` is the click's source as
 * flowmark keeps it (trimmed, lower case).
 */
export function insightsRow(row: AttributedCheckoutRow): InsightsRow {
  const f = checkoutFields(row);
  return {
    checkout_id: row.checkout_id,
    user_id: row.user_id,
    product_id: row.product_id,
    quantity: row.quantity,
    total_amount: row.order_value,
    payment_method: row.payment_method,
    payment_status: textOf(f, 'payment_status') ?? row.payment_status,
    payment_description: 'payment_description' in f ? textOf(f, 'payment_description') : row.payment_description,
    gender: row.user_gender,
    category: row.product_category,
    profit: row.profit,
    source: row.click_source,
    checkout_timestamp: row.checkout_time,
    click_timestamp: row.click_time,
  };
}

function columns<Row>(types: { [K in keyof Required<Row>]: OutputColumnType }) {
  return Object.entries(types).map(([name, type]) => ({ name, type: type as OutputColumnType }));
}

const TUTORIAL_COLUMNS = columns<TutorialRow>({
  checkout_id: 'text',
  user_name: 'text',
  click_id: 'text',
  product_id: 'text',
  payment_method: 'text',
  total_amount: 'numeric',
  shipping_address: 'text',
  billing_address: 'text',
  user_agent: 'text',
  ip_address: 'text',
  checkout_time: 'timestamp',
  click_time: 'timestamp',
});

const INSIGHTS_COLUMNS = columns<InsightsRow>({
  checkout_id: 'text',
  user_id: 'text',
  product_id: 'text',
  quantity: 'integer',
  total_amount: 'double precision',
  payment_method: 'text',
  payment_status: 'text',
  payment_description: 'text',
  gender: 'text',
  category: 'text',
  profit: 'double precision',
  source: 'text',
  checkout_timestamp: 'timestamp',
  click_timestamp: 'timestamp',
});

/**
 * The row builder of each kind. The row keeps the checkout's line, so that a row the database
 * refuses is a dead letter holding that line, as flowmark's own rows are.
 */
export const REFERENCE_ROW: Readonly<Record<ReferenceTableKind, (row: AttributedCheckoutRow) => object>> = {
  tutorial: (row) => keepRaw(tutorialRow(row), row),
  insights: (row) => keepRaw(insightsRow(row), row),
};

function keepRaw<T extends object>(out: T, from: AttributedCheckoutRow): T {
  const raw = rawEventOf(from);
  return raw === undefined ? out : withRawEvent(out, raw);
}

/**
 * The sink tables of the configured reference tables, by sink id: upserts by `checkout_id` (a
 * live run's provisional row is replaced by its final one, in place) into the shop's own schema.
 */
export function referenceSinkTables(tables: ReferenceTables): Record<string, OutputTable> {
  const out: Record<string, OutputTable> = {};
  for (const kind of REFERENCE_TABLE_KINDS) {
    const at = tables[kind];
    if (at === undefined) continue;
    out[REFERENCE_SINK[kind]] = {
      schema: at.schema,
      table: at.table,
      columns: kind === 'tutorial' ? TUTORIAL_COLUMNS : INSIGHTS_COLUMNS,
      primaryKey: ['checkout_id'],
      mode: 'upsert',
    };
  }
  return out;
}

/**
 * What the state-size benchmarks share besides the state itself (bench/support/chunked-checkpoints.ts):
 * attributed_checkouts rows of any number, deterministic (the same on every run), in the exact
 * shape the pipeline makes them (the checkpoints' sink rows, the postgres suite's sink benchmark),
 * and a real run's last checkpoint for the metadata every synthetic checkpoint reuses.
 */
import type { AttributedCheckoutRow } from '../../src/attribution/output-rows.ts';
import { MemoryCommitter } from '../../src/connectors/memory/memory-committer.ts';
import { MemorySource } from '../../src/connectors/memory/memory-source.ts';
import { Runtime, type SnapshotMeta, systemClock } from '../../src/engine/index.ts';
import { SOURCES } from '../../src/generator/index.ts';
import { attributionPipeline, benchEvents } from './data-sets.ts';

/** A small fast PRNG (mulberry32): the same data on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = '0123456789abcdef';
/** A UUID-shaped id (36 characters), as the generator's click and checkout ids are. */
export function uuid(rnd: () => number): string {
  let s = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) s += '-';
    s += HEX[(rnd() * 16) | 0];
  }
  return s;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

const CHECKOUT_T0 = Date.parse('2026-03-01T00:00:00.000Z');
const METHODS = ['Visa', 'Mastercard', 'PayPal', 'Apple Pay', 'Amex'];
const CATEGORIES = ['Books', 'Electronics', 'Home', 'Beauty', 'Toys', 'Sports'];

/** A full attributed_checkouts row (every column, realistic values); `i` makes the id unique. */
function checkoutRow(i: number, rnd: () => number): AttributedCheckoutRow {
  const price = Math.round((5 + rnd() * 300) * 100) / 100;
  const quantity = 1 + ((rnd() * 3) | 0);
  const discount = rnd() < 0.2 ? 0.1 : 0;
  const value = Math.round(price * quantity * (1 - discount) * 100) / 100;
  const failed = rnd() < 0.05;
  const attributed = rnd() < 0.6;
  const t = CHECKOUT_T0 + i * 37;
  return {
    checkout_id: uuid(rnd),
    user_id: `u${pad((rnd() * 1e6) | 0, 6)}`,
    product_id: `p${pad((rnd() * 1e5) | 0, 5)}`,
    quantity,
    discount,
    shipping_cost: value > 50 ? 0 : 4.99,
    payment_method: METHODS[(rnd() * METHODS.length) | 0] as string,
    payment_status: failed ? 'failed' : 'success',
    payment_description: failed ? 'insufficient funds' : null,
    user_name: `User ${(rnd() * 1e6) | 0}`,
    user_gender: rnd() < 0.5 ? 'female' : 'male',
    product_name: `Product ${(rnd() * 1e5) | 0} (Paperback)`,
    product_category: CATEGORIES[(rnd() * CATEGORIES.length) | 0] as string,
    product_price: price,
    commission_rate: 0.14,
    click_id: attributed ? uuid(rnd) : null,
    click_source: attributed ? (SOURCES[(rnd() * SOURCES.length) | 0]?.[0] as string) : null,
    click_time: attributed ? new Date(t - ((rnd() * 3_600_000) | 0)).toISOString() : null,
    checkout_time: new Date(t).toISOString(),
    order_value: value,
    revenue: failed ? 0 : value,
    profit: failed ? 0 : Math.round(value * 0.14 * 100) / 100,
    attribution_model: 'first_click',
    is_final: true,
  };
}

export function checkoutRows(n: number, from: number, seed: number): AttributedCheckoutRow[] {
  const rnd = prng(seed);
  const rows = new Array<AttributedCheckoutRow>(n);
  for (let i = 0; i < n; i++) rows[i] = checkoutRow(from + i, rnd);
  return rows;
}

/**
 * Runs the real attribution pipeline over generated events (unbounded, stopped once everything
 * was read, so that nothing is finalized by an end of input) and returns its last checkpoint's
 * metadata (source positions, step watermarks), which every synthetic checkpoint reuses.
 */
export async function realCheckpointMeta(events: number): Promise<SnapshotMeta> {
  const lines = [...benchEvents(events).lines()];
  const source = MemorySource.of(lines, { bounded: false });
  const committer = new MemoryCommitter();
  const runtime = new Runtime(attributionPipeline(source), {
    committer,
    clock: systemClock,
    checkpointEveryRecords: 5000,
  });
  const ac = new AbortController();
  const poll = setInterval(() => {
    if (source.committed.get(0) === lines.length) ac.abort();
  }, 20);
  try {
    await runtime.run({ signal: ac.signal });
  } finally {
    clearInterval(poll);
    await runtime.close();
  }
  return committer.state.meta;
}

/** Events of the fixed delta between two engine checkpoints the state suite measures. */
export const DELTA_EVENTS = 10_000;

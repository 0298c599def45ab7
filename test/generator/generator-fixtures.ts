/** Helpers shared by the generator's tests (not a test file: the glob skips it). */
import {
  type DeliveredLine,
  EventGenerator,
  type EventGeneratorOptions,
  generateCatalog,
} from '../../src/generator/index.ts';

export const CATALOG = generateCatalog({ users: 500, products: 120, seed: 1 });

/** The lines of a generated data set, with what each one is. */
export function deliveredLines(options: EventGeneratorOptions): { lines: DeliveredLine[]; generator: EventGenerator } {
  const generator = new EventGenerator(CATALOG, options);
  return { lines: [...generator.delivered()], generator };
}

/** The text of events.jsonl for these options. */
export function eventsText(options: EventGeneratorOptions): string {
  let text = '';
  for (const line of new EventGenerator(CATALOG, options).lines()) text += `${line}\n`;
  return text;
}

/** The keys of a canonical click and checkout line, in order. */
export const CLICK_KEYS = ['type', 'click_id', 'user_id', 'product_id', 'source', 'event_time'];
export const CHECKOUT_KEYS = [
  'type',
  'checkout_id',
  'user_id',
  'product_id',
  'quantity',
  'discount',
  'shipping_cost',
  'payment_method',
  'payment_status',
  'payment_description',
  'event_time',
];

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Checks that `line` is a canonical click or checkout line; returns the parsed object. */
export function checkCanonical(line: string): Record<string, unknown> {
  const o = JSON.parse(line) as Record<string, unknown>;
  const fail = (why: string) => new Error(`${why}: ${line}`);
  if (o.type === 'click') {
    if (Object.keys(o).join() !== CLICK_KEYS.join()) throw fail('click keys');
    for (const k of ['click_id', 'user_id', 'product_id', 'source']) if (typeof o[k] !== 'string') throw fail(k);
  } else if (o.type === 'checkout') {
    if (Object.keys(o).join() !== CHECKOUT_KEYS.join()) throw fail('checkout keys');
    for (const k of ['checkout_id', 'user_id', 'product_id', 'payment_method', 'payment_description']) {
      if (typeof o[k] !== 'string') throw fail(k);
    }
    if (!Number.isInteger(o.quantity) || (o.quantity as number) < 1 || (o.quantity as number) > 5)
      throw fail('quantity');
    if (typeof o.discount !== 'number' || o.discount < 0 || o.discount > 0.3) throw fail('discount');
    if (typeof o.shipping_cost !== 'number' || o.shipping_cost < 0) throw fail('shipping_cost');
    if (o.payment_status !== 'success' && o.payment_status !== 'failed') throw fail('payment_status');
    if ((o.payment_status === 'success') !== (o.payment_description === 'None')) throw fail('payment_description');
  } else throw fail('type');
  if (typeof o.event_time !== 'string' || !ISO_MS.test(o.event_time)) throw fail('event_time');
  if (new Date(o.event_time).toISOString() !== o.event_time) throw fail('event_time round trip');
  return o;
}

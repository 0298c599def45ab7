/**
 * The website simulator (ARCHITECTURE §2, `src/generator`): realistic click and checkout traffic
 * of a shop, seeded and deterministic (the same seed and options give byte-identical output),
 * with knobs for disorder, late delivery, duplicates and malformed lines. No I/O: it returns
 * rows and yields lines; `flowmark generate` writes them, `flowmark demo` appends them to the log.
 *
 * - {@link generateCatalog}: users and products (faker, seeded).
 * - {@link EventGenerator}: exactly N lines of `events.jsonl` in arrival order, for a bounded run.
 * - {@link LiveTraffic}: the same website in processing time, batch by batch, for the demo.
 * - {@link usersCsvLines}, {@link productsCsvLines}: the dimension tables as CSV text.
 *
 * @example
 * const catalog = generateCatalog({ users: 1000, products: 200, seed: 1 });
 * const gen = new EventGenerator(catalog, { events: 100_000, seed: 1, ratePerSecond: 100, disorder: 0.05 });
 * for (const line of gen.lines()) out.write(`${line}\n`);
 */
export {
  type DeliveredLine,
  type DeliveryOptions,
  DeliverySchedule,
  type DeliveryStats,
  type LineKind,
} from './delivery-schedule.ts';
export { PRODUCTS_CSV_HEADER, productsCsvLines, USERS_CSV_HEADER, usersCsvLines } from './dimension-csv.ts';
export { EventGenerator, type EventGeneratorOptions, generateCatalog, type ShopCatalog } from './event-generator.ts';
export {
  eventLine,
  type GeneratedCheckout,
  type GeneratedClick,
  type GeneratedEvent,
  isoTime,
} from './event-lines.ts';
export {
  DEFAULT_START_MS,
  DEFAULT_TRAFFIC_OPTIONS,
  resolveTrafficOptions,
  type TrafficOptions,
} from './generator-options.ts';
export { LiveTraffic, type LiveTrafficOptions } from './live-traffic.ts';
export type { MalformedKind } from './malformed-lines.ts';
export { CATEGORIES, GENDERS, type GeneratedProduct, type GeneratedUser } from './shop-catalog.ts';
export { FAILURE_REASONS, PAYMENT_METHODS, SOURCES, TrafficSimulator } from './traffic-simulator.ts';

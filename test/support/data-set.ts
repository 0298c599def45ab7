import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventGenerator, generateCatalog, productsCsvLines, usersCsvLines } from '../../src/generator/index.ts';

/**
 * Writes a generated data set (events.jsonl with disorder, late events, duplicates and malformed
 * lines; users.csv; products.csv) into `dir`, and returns the event lines.
 */
export function writeDataSet(dir: string, events: number, seed: number): string[] {
  const catalog = generateCatalog({ users: 60, products: 15, seed });
  const lines = [
    ...new EventGenerator(catalog, {
      events,
      seed,
      disorder: 0.2,
      maxDisorderMs: 10_000,
      late: 0.01,
      duplicates: 0.05,
      malformed: 0.01,
    }).lines(),
  ];
  writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'users.csv'), `${[...usersCsvLines(catalog.users)].join('\n')}\n`);
  writeFileSync(join(dir, 'products.csv'), `${[...productsCsvLines(catalog.products)].join('\n')}\n`);
  return lines;
}

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';

/** One benchmark's result: a name, figures (snake_case), and lines for the table. */
export interface BenchResult {
  name: string;
  figures: Record<string, number>;
  rows: Array<[label: string, value: string]>;
}

/**
 * Measures variants side by side: `rounds` rounds, each running every variant once in turn, so
 * that a noisy neighbour hurts all variants alike. Each variant is a factory called untimed
 * (to build its input) that returns the work to time. Returns the median seconds per variant,
 * and the last result of each (so that callers can check the variants computed the same thing).
 */
export async function sideBySide(
  variants: Record<string, () => () => unknown | Promise<unknown>>,
  rounds = 3,
): Promise<{ seconds: Record<string, number>; results: Record<string, unknown> }> {
  const times: Record<string, number[]> = {};
  const results: Record<string, unknown> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, prepare] of Object.entries(variants)) {
      const work = prepare();
      globalThis.gc?.();
      const t0 = performance.now();
      results[name] = await work();
      (times[name] ??= []).push((performance.now() - t0) / 1000);
    }
  }
  const seconds: Record<string, number> = {};
  for (const [name, ts] of Object.entries(times)) seconds[name] = median(ts);
  return { seconds, results };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(2);
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function printTable(r: BenchResult): void {
  const w = Math.max(...r.rows.map(([l]) => l.length));
  console.log(`\n${r.name}`);
  for (const [label, value] of r.rows) console.log(`  ${label.padEnd(w)}  ${value}`);
}

/** Appends a dated section with the results to docs/BENCHMARKS.md. */
export function appendToBenchmarksMd(path: string, command: string, results: BenchResult[]): void {
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  let md = `\n## ${date} UTC — \`${command}\`\n\nMachine: ${machine()}.\n`;
  for (const r of results) {
    md += `\n**${r.name}**\n\n| figure | value |\n|---|---|\n`;
    for (const [label, value] of r.rows) md += `| ${label} | ${value} |\n`;
  }
  if (!existsSync(path) || !readFileSync(path, 'utf8').includes('# Benchmarks')) md = `# Benchmarks\n${md}`;
  appendFileSync(path, md);
}

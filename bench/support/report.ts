/**
 * What a benchmark returns and how it is shown: the figures' formats, the table printed per
 * benchmark, and the dated section appended to docs/BENCHMARKS.md (bench/run.ts calls both).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** One benchmark's result: a name, figures (snake_case), and lines for the table. */
export interface BenchResult {
  name: string;
  figures: Record<string, number>;
  rows: Array<[label: string, value: string]>;
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

/** A count: as is below 1 000, else as {@link fmt}. */
export function fmtCount(n: number): string {
  return n < 1e3 ? String(Math.round(n)) : fmt(n);
}

/** `part / whole` as a percentage with no decimals: `"42 %"`. */
export function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(0)} %`;
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

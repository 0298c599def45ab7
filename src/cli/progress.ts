/**
 * A progress line on stderr for long work: a bar with percent, rate and ETA redrawn in place on
 * a terminal; on a pipe or a log file, one plain line per 10 % instead, so logs stay readable.
 */
export interface ProgressState {
  done: number;
  total: number;
  unit: 'bytes' | 'events';
}

function human(n: number, unit: ProgressState['unit']): string {
  if (unit === 'bytes') {
    if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
    if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
    return `${(n / 1024).toFixed(0)} KiB`;
  }
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export class Progress {
  readonly #label: string;
  readonly #read: () => ProgressState;
  readonly #timer: NodeJS.Timeout;
  readonly #tty: boolean;
  readonly #startedMs = performance.now();
  #lastDecile = -1;

  constructor(label: string, read: () => ProgressState, stream: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#read = read;
    this.#tty = stream.isTTY === true;
    this.#timer = setInterval(() => this.#draw(stream), this.#tty ? 200 : 1000);
    this.#timer.unref();
  }

  /** The current line, for tests and for the final redraw. */
  line(): string {
    const { done, total, unit } = this.#read();
    const seconds = (performance.now() - this.#startedMs) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)} s left` : '';
    return `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ${human(done, unit)}/${human(total, unit)} ${human(rate, unit)}/s ${eta}`.trimEnd();
  }

  #draw(stream: NodeJS.WriteStream): void {
    const { done, total } = this.#read();
    if (this.#tty) {
      stream.write(`\r${this.line()}\u001b[K`);
      return;
    }
    const decile = total > 0 ? Math.floor((done / total) * 10) : 0;
    if (decile > this.#lastDecile) {
      this.#lastDecile = decile;
      stream.write(`${this.line()}\n`);
    }
  }

  stop(stream: NodeJS.WriteStream = process.stderr): void {
    clearInterval(this.#timer);
    if (this.#tty) stream.write(`\r${this.line()}\u001b[K\n`);
  }
}

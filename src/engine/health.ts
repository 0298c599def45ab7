import { FlowmarkError } from './errors.ts';
import type { Clock } from './time.ts';

/** One thing that is failing and being retried (a checkpoint commit, a look-up). */
export interface Trouble {
  /** What is retried: `checkpoint`, or the id of the step (`enrich-user`). */
  what: string;
  /** The last error's code (FM_PG_UNAVAILABLE, …) and message. */
  code: string;
  message: string;
  /** Processing time of the first failure of this episode. */
  sinceMs: number;
  attempts: number;
}

/** Whether the runtime is doing its work or riding out a failure. */
export interface RuntimeHealth {
  /** True when nothing is being retried. */
  ok: boolean;
  troubles: Trouble[];
}

/**
 * True when trying again may succeed: a {@link FlowmarkError} marked retriable (the database or
 * the broker is unavailable). Anything else is a bug or bad configuration and stops the run.
 */
export function isRetriable(err: unknown): boolean {
  return err instanceof FlowmarkError && err.retriable;
}

/** Exponential backoff: `first`, doubling, capped at `max` (ms). */
export function nextBackoffMs(previousMs: number | undefined, first = 100, max = 5000): number {
  return previousMs === undefined ? first : Math.min(previousMs * 2, max);
}

/**
 * Tracks what is being retried. `onChange` hears of every episode's start and end (not of every
 * attempt), so a log line per outage and per recovery is what a user sees.
 */
export class HealthTracker {
  readonly #clock: Clock;
  readonly #onChange: ((health: RuntimeHealth, change: HealthChange) => void) | undefined;
  readonly #troubles = new Map<string, Trouble>();

  constructor(clock: Clock, onChange?: (health: RuntimeHealth, change: HealthChange) => void) {
    this.#clock = clock;
    this.#onChange = onChange;
  }

  /** `what` failed with `err` and will be tried again. */
  failing(what: string, err: unknown): void {
    const code = err instanceof FlowmarkError ? err.code : 'ERROR';
    const message = err instanceof Error ? err.message : String(err);
    const t = this.#troubles.get(what);
    if (t !== undefined) {
      t.attempts++;
      t.code = code;
      t.message = message;
      return;
    }
    const trouble = { what, code, message, sinceMs: this.#clock.nowMs(), attempts: 1 };
    this.#troubles.set(what, trouble);
    this.#onChange?.(this.health(), { kind: 'failing', trouble: { ...trouble } });
  }

  /** `what` succeeded (after failing, if it did). */
  recovered(what: string): void {
    const t = this.#troubles.get(what);
    if (t === undefined) return;
    this.#troubles.delete(what);
    this.#onChange?.(this.health(), { kind: 'recovered', trouble: t, downMs: this.#clock.nowMs() - t.sinceMs });
  }

  health(): RuntimeHealth {
    const troubles = [...this.#troubles.values()].map((t) => ({ ...t }));
    return { ok: troubles.length === 0, troubles };
  }
}

export type HealthChange =
  | { kind: 'failing'; trouble: Trouble }
  | { kind: 'recovered'; trouble: Trouble; downMs: number };

/**
 * The port every queue of events adapts to (flowmark's log: ./modes/embedded.ts; Kafka:
 * ./modes/kafka.ts), as `import` (./event-import.ts) and the simulated shop (./demo-shop.ts)
 * write to it. A line goes by its kind (click, checkout); which topic and partition that is, is
 * the queue's business.
 */
import type { EventKind } from '../attribution/events/index.ts';

/** What an import counted: the lines appended per kind, and the dead letters. */
export interface ImportCounts {
  clicks: number;
  checkouts: number;
  deadLetters: number;
}

/** Per topic, per partition: the offset after the last record. */
export type QueueEnds = Record<string, Record<string, number>>;

export interface EventQueue {
  /** For messages: `log` or `Kafka`. */
  readonly name: string;
  /** Where lines go, for messages: "clicks and checkouts (keyed by user_id) at Kafka H:P". */
  readonly target: string;
  /** What an import's progress record is keyed by besides the file: the log's directory, Kafka's cluster and topics. */
  readonly scope: string;
  /** The largest line, in UTF-8 bytes, that the queue takes as one record. */
  readonly maxRecordBytes: number;
  /**
   * Appends a line of kind `kind`, keyed by user id `key` (line number `lineNo`, for a
   * deterministic place when it has no key).
   */
  append(kind: EventKind, line: string, key: string | undefined, lineNo: number): void | Promise<void>;
  /** Resolves when the queue can take more (back-pressure: a slow broker slows the writer down). */
  ready(): Promise<void>;
  /** Resolves once everything appended is durable (log) or acknowledged (Kafka). */
  flush(): Promise<void>;
  /** Records acknowledged so far, when the queue counts them. */
  acknowledged?(): number;
  /** The end offsets now, when the queue can tell. */
  ends?(): QueueEnds;
  /**
   * Whether the next record of the queue after `ends` in the partition `line` goes to is `line`;
   * if so it is taken (a resumed import skips it). Only for a queue that has `ends`.
   */
  alreadyThere?(kind: EventKind, line: string, key: string | undefined, lineNo: number, ends: QueueEnds): boolean;
  /** Where the counted events went, for the import's last line: "3 clicks, 4 checkouts → log in D". */
  describe(counts: ImportCounts): string;
  close(): Promise<void>;
}

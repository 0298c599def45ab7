import type { Operator, OperatorContext, Output } from '../operator.ts';

/** `map`: one output per input, same event time. Stateless: no lateness check. */
export class MapOperator<I, O> implements Operator {
  readonly #fn: (value: I) => O;
  #out!: Output<O>;
  constructor(fn: (value: I) => O) {
    this.#fn = fn;
  }
  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
  }
  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    this.#out.push(this.#fn(value as I), eventTimeMs);
  }
}

/** `filter`: keeps the records for which the predicate is true. */
export class FilterOperator<T> implements Operator {
  readonly #fn: (value: T) => boolean;
  #out!: Output<T>;
  constructor(fn: (value: T) => boolean) {
    this.#fn = fn;
  }
  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
  }
  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    if (this.#fn(value as T)) this.#out.push(value as T, eventTimeMs);
  }
}

/** `flatMap`: zero or more outputs per input, all with the input's event time. */
export class FlatMapOperator<I, O> implements Operator {
  readonly #fn: (value: I) => Iterable<O>;
  #out!: Output<O>;
  constructor(fn: (value: I) => Iterable<O>) {
    this.#fn = fn;
  }
  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
  }
  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    for (const o of this.#fn(value as I)) this.#out.push(o, eventTimeMs);
  }
}

/** `union`: merges its inputs; its watermark is the minimum over them (done by the runtime). */
export class UnionOperator implements Operator {
  #out!: Output;
  open(ctx: OperatorContext): void {
    this.#out = ctx.output();
  }
  processRecord(_input: number, value: unknown, eventTimeMs: number): void {
    this.#out.push(value, eventTimeMs);
  }
}

import type { Operator, OperatorContext } from '../operator.ts';

// Placeholder while the operator is being written.
export class IntervalJoinOperator implements Operator {
  constructor(..._args: unknown[]) {}
  open(_ctx: OperatorContext): void {
    throw new Error('IntervalJoinOperator: not implemented yet');
  }
  processRecord(): void {}
}

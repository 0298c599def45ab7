import type { Operator, OperatorContext } from '../operator.ts';

// Placeholder while the operator is being written.
export class WindowOperator implements Operator {
  constructor(..._args: unknown[]) {}
  open(_ctx: OperatorContext): void {
    throw new Error('WindowOperator: not implemented yet');
  }
  processRecord(): void {}
}

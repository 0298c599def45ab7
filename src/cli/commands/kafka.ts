/**
 * `flowmark kafka cleanup --kafka HOST:PORT --group G`: deletes the internal topics that the
 * workers of group G created to repartition unkeyed topics (`G-repartition-clicks`,
 * `G-repartition-checkouts`, src/cli/modes/kafka-repartition.ts). Run it once the group is
 * retired, with none of its workers running: a worker started later creates them again, empty,
 * and its jobs' checkpoints would then point past their end.
 */
import { FlowmarkError } from '../../engine/index.ts';
import type { ConfigFlags, FlowmarkConfig } from '../config/index.ts';
import { internalTopics, removeInternalTopics } from '../modes/kafka-repartition.ts';
import { chooseMode } from '../modes/mode.ts';

export async function runKafkaCleanup(_flags: ConfigFlags, config: FlowmarkConfig): Promise<void> {
  const kafka = chooseMode(config).kafka;
  if (kafka === undefined) {
    throw new FlowmarkError(
      'FM_CONFIG_INVALID',
      'kafka cleanup needs the brokers: give --kafka HOST:PORT (or kafka.bootstrap in the config file, or FLOWMARK_KAFKA_BOOTSTRAP)',
    );
  }
  const removed = await removeInternalTopics(kafka.bootstrap, kafka.group);
  const names = Object.values(internalTopics(kafka.group));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (removed.length === 0) {
    out(
      `kafka cleanup: group ${kafka.group} has no internal topics at ${kafka.bootstrap.join(',')} (${names.join(', ')}): nothing to do`,
    );
    return;
  }
  out(`kafka cleanup: deleted ${removed.join(' and ')} at ${kafka.bootstrap.join(',')}`);
}

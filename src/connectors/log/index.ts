/**
 * The embedded log: flowmark's own durable, partitioned, append-only log, the stand-in for Kafka
 * in embedded mode. The public entry of `src/connectors/log`; everything else here is internal.
 * Format, guarantees, recovery and retention: docs/connectors.md, "The embedded log".
 */
export type { LogFinding } from './log-check.ts';
export { type LogDamage, offsetsOf, type QuarantinedRegion } from './log-damage.ts';
export { type CreateTopicOptions, LogDirectory } from './log-directory.ts';
export type { LogOptions } from './log-options.ts';
export type { LogRepair, RetentionDeletion } from './log-partition.ts';
export { partitionForKey } from './log-partitioner.ts';
export { type AppendResult, LogProducer, type ProducerRecord } from './log-producer.ts';
export { LogSource, type LogSourceOptions } from './log-source.ts';
export type { ConsumerPosition } from './log-topic.ts';

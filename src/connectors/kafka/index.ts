/**
 * The Kafka connectors (production mode): admin (topics), producer (keyed by user id, Java-client
 * partitioning), and the source of the pipeline's workers. See docs/connectors.md "Kafka".
 */

export {
  CO_PARTITION_PROTOCOL,
  commonPartitionCount,
  coPartitionAssigner,
  splitPartitions,
} from './co-partition-assigner.ts';
export { type EnsuredTopic, KafkaAdmin, type KafkaAdminOptions, type TopicSpec } from './kafka-admin.ts';
export { hasKafkaErrorId, KAFKA_CLIENT_ID, kafkaErrorText, kafkaUnavailable, parseBootstrap } from './kafka-options.ts';
export { murmur2, partitionForKey } from './kafka-partitioner.ts';
export { KafkaProducer, type KafkaProducerOptions } from './kafka-producer.ts';
export { KafkaRepartitioner, type KafkaRepartitionerOptions } from './kafka-repartitioner.ts';
export {
  KafkaSource,
  type KafkaSourceOptions,
  READ_CHUNK as KAFKA_READ_CHUNK,
  type StandaloneKafkaSourceOptions,
} from './kafka-source.ts';
export { KafkaWorker, type KafkaWorkerOptions } from './kafka-worker.ts';
export { decodeEnvelope, encodeEnvelope, type SourcePosition } from './repartition-envelope.ts';
export { RepartitionedSource, type RepartitionedSourceOptions } from './repartitioned-source.ts';

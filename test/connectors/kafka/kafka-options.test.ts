import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kafkaErrorText, parseBootstrap } from '../../../src/connectors/kafka/kafka-options.ts';
import { isFlowmarkError } from '../../../src/engine/errors.ts';

test('parseBootstrap: host:port, comma-separated, spaces dropped, IPv6 in brackets', () => {
  assert.deepEqual(parseBootstrap('127.0.0.1:9092'), ['127.0.0.1:9092']);
  assert.deepEqual(parseBootstrap(' kafka1:9092, kafka-2.internal:19092 '), ['kafka1:9092', 'kafka-2.internal:19092']);
  assert.deepEqual(parseBootstrap('[::1]:9092'), ['[::1]:9092']);
});

test('parseBootstrap refuses a bad entry with FM_CONFIG_INVALID, naming it, the key and the expected form', () => {
  const cases: Array<[string, RegExp]> = [
    ['kafka', /kafka\.bootstrap: "kafka" has no port; expected host:port\[,host:port…\]/],
    ['kafka:port', /"kafka:port" has no port/],
    ['kafka:0', /"kafka:0" has a port outside 1–65535/],
    ['kafka:70000', /"kafka:70000" has a port outside/],
    ['a:1,,b:2', /"" is an empty entry/],
    ['', /kafka\.bootstrap must not be empty: give host:port/],
    ['http://kafka:9092', /"http:\/\/kafka:9092" is not a host name or address followed by :port/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseBootstrap(text),
      (err: unknown) => isFlowmarkError(err, 'FM_CONFIG_INVALID') && message.test(err.message),
      text,
    );
  }
  assert.throws(() => parseBootstrap('x', '--kafka'), /^FlowmarkError: --kafka: "x" has no port/);
});

test('kafkaErrorText digs out the innermost messages of nested client errors', () => {
  const inner = new AggregateError([new Error('message too large'), new Error('message too large')], 'Produce(v11)');
  const outer = new AggregateError([inner], 'Producing messages failed.');
  assert.equal(kafkaErrorText(outer), 'message too large');
  assert.equal(kafkaErrorText(new Error('plain')), 'plain');
  assert.equal(kafkaErrorText('text'), 'text');
});

/**
 * The broker that scripts/kafka.sh starts (through scripts/services.sh, as FLOWMARK_TEST_KAFKA)
 * speaks Kafka: it answers an ApiVersions request, sent by hand over a socket so that this test
 * needs no client library.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { requireService } from './services.ts';

const API_VERSIONS = 18;
const PRODUCE = 0;

/** One API a broker supports, from its ApiVersions response. */
interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/**
 * Sends ApiVersions v0 (header v1: api key, version, correlation id, null client id) to
 * `host:port` and returns the response's error code and API list (v0 body: int16 error code,
 * int32 count, then count × (int16 key, int16 min, int16 max)).
 */
async function apiVersions(
  host: string,
  port: number,
  correlationId: number,
): Promise<{ errorCode: number; apis: ApiVersionRange[] }> {
  const request = Buffer.alloc(14);
  request.writeInt32BE(10, 0); // size of what follows
  request.writeInt16BE(API_VERSIONS, 4);
  request.writeInt16BE(0, 6); // version
  request.writeInt32BE(correlationId, 8);
  request.writeInt16BE(-1, 12); // client id: null

  const response = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let received = 0;
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no ApiVersions response from ${host}:${port}`)));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 4) return;
      const all = Buffer.concat(chunks);
      if (all.length >= 4 + all.readInt32BE(0)) {
        socket.end();
        resolve(all.subarray(4, 4 + all.readInt32BE(0)));
      }
    });
  });

  assert.equal(response.readInt32BE(0), correlationId, 'correlation id');
  const errorCode = response.readInt16BE(4);
  const count = response.readInt32BE(6);
  const apis: ApiVersionRange[] = [];
  for (let i = 0, at = 10; i < count; i++, at += 6) {
    apis.push({
      apiKey: response.readInt16BE(at),
      minVersion: response.readInt16BE(at + 2),
      maxVersion: response.readInt16BE(at + 4),
    });
  }
  return { errorCode, apis };
}

test('the broker of scripts/kafka.sh answers a Kafka ApiVersions request', async (t) => {
  const bootstrap = requireService(t, 'kafka', 'FLOWMARK_TEST_KAFKA');
  if (bootstrap === undefined) return;
  const [host = '', port = ''] = bootstrap.split(':');
  assert.match(port, /^\d+$/, `FLOWMARK_TEST_KAFKA should be host:port, got ${bootstrap}`);

  const { errorCode, apis } = await apiVersions(host, Number(port), 7);

  assert.equal(errorCode, 0, 'ApiVersions error code');
  assert.ok(apis.length > 0, 'the broker lists the APIs it supports');
  const keys = apis.map((api) => api.apiKey);
  assert.ok(keys.includes(API_VERSIONS), 'ApiVersions is listed');
  assert.ok(keys.includes(PRODUCE), 'Produce is listed');
});

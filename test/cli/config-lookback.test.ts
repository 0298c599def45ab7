/**
 * The lookback keys (ARCHITECTURE §3.3, docs/configuration.md): `attribution.lookback` up to 90
 * days, and `attribution.lookback_by_source` as a YAML map or `source=duration` pairs, each
 * problem named by key, entry and where it came from.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { attributionOptions } from '../../src/attribution/attribution-options.ts';
import { describeConfig, loadConfig } from '../../src/cli/config/index.ts';
import { FlowmarkError } from '../../src/engine/index.ts';

const DAY = 86_400_000;

function yamlFile(t: { after(fn: () => void): void }, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmark-config-lookback-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'flowmark.yaml');
  writeFileSync(path, yaml);
  return path;
}

function failure(input: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(input);
  } catch (err) {
    assert.ok(err instanceof FlowmarkError, String(err));
    assert.equal(err.code, 'FM_CONFIG_INVALID', err.message);
    return err.message;
  }
  assert.fail('loadConfig did not throw');
}

test('a lookback of up to 90 days is accepted; more, or none, is refused naming the key', () => {
  assert.equal(loadConfig({ flags: { lookback: '30d' } }).config.attribution.lookbackMs, 30 * DAY);
  assert.equal(loadConfig({ flags: { lookback: '90d' } }).config.attribution.lookbackMs, 90 * DAY);
  assert.equal(
    failure({ flags: { lookback: '91d' } }),
    '--lookback="91d": attribution.lookback must be at most 90d (7776000000 ms), got 7862400000 ms (91 days)',
  );
  assert.match(
    failure({ env: { FLOWMARK_ATTRIBUTION_LOOKBACK: '0s' } }),
    /^FLOWMARK_ATTRIBUTION_LOOKBACK="0s": attribution\.lookback must be a duration > 0/,
  );
  assert.match(failure({ flags: { lookback: 'a month' } }), /attribution\.lookback must be a duration/);
  // The options' own check, for callers that build options without the loader.
  assert.throws(
    () => attributionOptions({ lookbackMs: 90 * DAY + 1 }),
    /attribution option lookbackMs: must be at most 90d/,
  );
  assert.throws(() => attributionOptions({ lookbackMs: 0 }), /attribution option lookbackMs: must be a duration > 0/);
});

test('lookback_by_source as a YAML map: sources lower-cased, durations in ms, shown back by `config`', (t) => {
  const file = yamlFile(
    t,
    [
      'attribution:',
      '  lookback: 2h',
      '  lookback_by_source:',
      '    Email: 30d',
      '    google_ads: 7d',
      '    direct: 1d',
      '',
    ].join('\n'),
  );
  const { config, origins } = loadConfig({ flags: { config: file } });
  assert.deepEqual(config.attribution.lookbackBySource, { email: 30 * DAY, google_ads: 7 * DAY, direct: DAY });
  assert.equal(config.attribution.lookbackMs, 2 * 3_600_000);
  assert.equal(origins.get('attribution.lookback_by_source'), `${file}:4`);
  const lines = describeConfig(config);
  assert.ok(
    lines.some((l) => /^ {2}lookback_by_source: \{ email: 30d, google_ads: 7d, direct: 1d \}$/.test(l)),
    lines.join('\n'),
  );
  // What `config` prints loads back to the same configuration.
  const again = loadConfig({ flags: { config: yamlFile(t, `${lines.join('\n')}\n`) } });
  assert.deepEqual(again.config.attribution, config.attribution);
  // The default: no source has its own window.
  assert.deepEqual(loadConfig().config.attribution.lookbackBySource, {});
});

test('lookback_by_source as pairs in a flag or a variable; the flag wins', () => {
  const env = { FLOWMARK_ATTRIBUTION_LOOKBACK_BY_SOURCE: 'email=30d, google_ads=7d' };
  let r = loadConfig({ env });
  assert.deepEqual(r.config.attribution.lookbackBySource, { email: 30 * DAY, google_ads: 7 * DAY });
  assert.equal(r.origins.get('attribution.lookback_by_source'), 'FLOWMARK_ATTRIBUTION_LOOKBACK_BY_SOURCE');
  r = loadConfig({ env, flags: { lookbackBySource: 'direct=1d' } });
  assert.deepEqual(r.config.attribution.lookbackBySource, { direct: DAY });
  assert.equal(r.origins.get('attribution.lookback_by_source'), '--lookback-by-source');
});

test('a bad lookback_by_source entry is refused naming the key, the entry and where it came from', (t) => {
  assert.equal(
    failure({ flags: { lookbackBySource: 'email=30d,tiktok=91d' } }),
    '--lookback-by-source="email=30d,tiktok=91d": attribution.lookback_by_source entry tiktok: must be at most 90d (7776000000 ms), got 7862400000 ms (91 days)',
  );
  assert.match(
    failure({ env: { FLOWMARK_ATTRIBUTION_LOOKBACK_BY_SOURCE: 'email:30d' } }),
    /^FLOWMARK_ATTRIBUTION_LOOKBACK_BY_SOURCE="email:30d": attribution\.lookback_by_source must be a map of source → duration .*: entry "email:30d" has no "="$/,
  );
  assert.match(
    failure({ flags: { lookbackBySource: 'email=soon' } }),
    /attribution\.lookback_by_source entry email: "soon" is not a duration/,
  );
  assert.match(failure({ flags: { lookbackBySource: 'email=0' } }), /entry email: must be a duration > 0/);
  assert.match(
    failure({ flags: { lookbackBySource: '=1d' } }),
    /attribution\.lookback_by_source has an entry with no source name/,
  );
  assert.match(
    failure({ flags: { lookbackBySource: 'Email=1d,email=2d' } }),
    /attribution\.lookback_by_source names source email twice/,
  );
  const list = yamlFile(t, 'attribution:\n  lookback_by_source: [email, direct]\n');
  assert.match(failure({ flags: { config: list } }), /flowmark\.yaml:2: attribution\.lookback_by_source must be a map/);
  const far = yamlFile(t, 'attribution:\n  lookback_by_source:\n    email: 100d\n');
  assert.match(
    failure({ flags: { config: far } }),
    /flowmark\.yaml:3: attribution\.lookback_by_source entry email: must be at most 90d/,
  );
  assert.throws(
    () => attributionOptions({ lookbackBySource: { email: 91 * DAY } }),
    /attribution option lookbackBySource\.email: must be at most 90d/,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { daysFromCivil, eventTimeProblem, parseEventTimeMs } from '../../../src/attribution/events/event-time.ts';

const T = Date.UTC(2026, 2, 1, 9, 15, 2, 900); // 2026-03-01T09:15:02.900Z

test('every accepted form, to the millisecond', () => {
  const cases: Array<[unknown, number]> = [
    // ISO-8601 with Z
    ['2026-03-01T09:15:02.900Z', T],
    ['2026-03-01T09:15:02.9Z', T],
    ['2026-03-01T09:15:02.90Z', T],
    ['2026-03-01T09:15:02Z', T - 900],
    ['2026-03-01t09:15:02.900z', T],
    ['2026-03-01 09:15:02.900Z', T],
    // ISO-8601 with an offset: ±HH:MM, ±HHMM, ±HH
    ['2026-03-01T11:15:02.900+02:00', T],
    ['2026-03-01T11:15:02.900+0200', T],
    ['2026-03-01T11:15:02.900+02', T],
    ['2026-03-01T04:15:02.900-05:00', T],
    ['2026-03-01T14:45:02.900+05:30', T],
    ['2026-03-01T09:15:02.900+00:00', T],
    ['2026-03-01T09:15:02.900-00:00', T],
    ['2026-03-02T08:15:02.900+23:00', T],
    ['2026-02-28T09:16:02.900-23:59', T],
    // no zone: UTC, with a space or a T
    ['2026-03-01 09:15:02.900', T],
    ['2026-03-01 09:15:02', T - 900],
    ['2026-03-01 09:15:02.9', T],
    ['2026-03-01T09:15:02.900', T],
    // more than three fractional digits: truncated, never rounded
    ['2026-03-01 09:15:02.900999', T],
    ['2026-03-01T09:15:02.9009999999Z', T],
    ['2026-03-01T09:15:02.999999Z', T + 99],
    // epoch milliseconds as an integer number
    [T, T],
    [0, 0],
    [-1, -1],
    // the first and the last instant flowmark stores (years 0001–9999)
    [-62_135_596_800_000, new Date('0001-01-01T00:00:00.000Z').getTime()],
    [253_402_300_799_999, Date.UTC(9999, 11, 31, 23, 59, 59, 999)],
  ];
  for (const [input, expected] of cases)
    assert.equal(parseEventTimeMs(input), expected, `input ${JSON.stringify(input)}`);
});

test('calendar edges: leap days, month ends, year ends, midnight, far years', () => {
  const cases: Array<[string, number]> = [
    ['2024-02-29 00:00:00', Date.UTC(2024, 1, 29)],
    ['2000-02-29 12:00:00', Date.UTC(2000, 1, 29, 12)],
    ['2026-04-30 23:59:59.999', Date.UTC(2026, 3, 30, 23, 59, 59, 999)],
    ['2026-12-31T23:59:59.999Z', Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
    ['2027-01-01T00:00:00.000Z', Date.UTC(2027, 0, 1)],
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59.999Z', -1],
    ['1970-01-01T01:00:00+01:00', 0],
    ['9999-12-31T23:59:59.999Z', Date.UTC(9999, 11, 31, 23, 59, 59, 999)],
    // Date.UTC reads years 0–99 as 1900–1999; the parser does not.
    ['0099-12-31 23:59:59.999', new Date('0099-12-31T23:59:59.999Z').getTime()],
    ['0001-01-01T00:00:00Z', new Date('0001-01-01T00:00:00Z').getTime()],
    ['0001-01-01T01:00:00+01:00', new Date('0001-01-01T00:00:00Z').getTime()],
    ['9999-12-31T22:59:59.999-01:00', Date.UTC(9999, 11, 31, 23, 59, 59, 999)],
  ];
  for (const [input, expected] of cases) assert.equal(parseEventTimeMs(input), expected, input);
});

test('a naive time is UTC, whatever the local zone (never Date.parse)', () => {
  // Date.parse('2026-03-01T09:15:02.900') is local time; the parser must not depend on TZ.
  assert.equal(parseEventTimeMs('2026-03-01T09:15:02.900'), T);
  assert.equal(parseEventTimeMs('2026-07-01 12:00:00'), Date.UTC(2026, 6, 1, 12));
});

test('refused: out-of-range calendar fields, each with the reason it gives', () => {
  const cases: Array<[string, RegExp]> = [
    ['2026-13-01 00:00:00', /month 13 does not exist/],
    ['2026-00-10 00:00:00', /month 00 does not exist/],
    ['2026-02-30 10:00:00', /day 30 does not exist in 2026-02/],
    ['2026-02-29 10:00:00', /day 29 does not exist in 2026-02/],
    ['1900-02-29 10:00:00', /day 29 does not exist in 1900-02/],
    ['2026-04-31 10:00:00', /day 31 does not exist in 2026-04/],
    ['2026-03-00 10:00:00', /day 00 does not exist/],
    ['2026-03-01 24:00:00', /hour 24 is out of range/],
    ['2026-03-01T24:00:00Z', /hour 24 is out of range/],
    ['2026-03-01 09:60:00', /minute 60 is out of range/],
    ['2026-03-01 09:15:60', /second 60 is out of range/],
    ['2026-03-01T09:15:02+24:00', /zone offset \+24:00 is out of range/],
    ['2026-03-01T09:15:02+02:60', /zone offset \+02:60 is out of range/],
  ];
  for (const [input, why] of cases) {
    assert.equal(parseEventTimeMs(input), undefined, input);
    assert.match(eventTimeProblem(input), why, input);
  }
});

test('refused: other shapes, numbers that are not integers, and non-time values', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['2026-03-01', /date but no time of day/],
    ['2026-03-01T09:15', /no seconds/],
    ['2026-03-01T09:15Z', /no seconds/],
    ['2026-03-01 9:15:02', /must follow the date as HH:MM:SS/],
    ['2026-03-01T', /must follow the date as HH:MM:SS/],
    ['2026-3-1 09:15:02', /does not start with a date/],
    ['26-03-01 09:15:02', /does not start with a date/],
    ['01/03/2026 09:15:02', /does not start with a date/],
    ['March 1, 2026 09:15:02', /does not start with a date/],
    ['Sun, 01 Mar 2026 09:15:02 GMT', /does not start with a date/],
    ['2026-03-01T09:15:02.Z', /fraction of a second has no digits/],
    ['2026-03-01T09:15:02.', /fraction of a second has no digits/],
    ['2026-03-01T09:15:02,900Z', /not Z or an offset/],
    ['2026-03-01T09:15:02.900 UTC', /not Z or an offset/],
    ['2026-03-01T09:15:02.900ZZ', /not Z or an offset/],
    ['2026-03-01T09:15:02.900+2', /not Z or an offset/],
    ['2026-03-01T09:15:02.900+02:0', /not Z or an offset/],
    ['2026-03-01T09:15:02.900+02:000', /not Z or an offset/],
    ['2026-03-01T09:15:02.900[Europe/Paris]', /not Z or an offset/],
    ['2026-03-01_09:15:02', /must follow the date as HH:MM:SS/],
    [' 2026-03-01 09:15:02', /spaces around it/],
    ['2026-03-01 09:15:02 ', /spaces around it/],
    ['+002026-03-01T09:15:02Z', /does not start with a date/],
    ['1772356502900', /number in a string/],
    ['', /does not start with a date/],
    [1.5, /must be an integer/],
    [1772356502.9, /must be an integer/],
    [Number.NaN, /not finite/],
    [Number.POSITIVE_INFINITY, /not finite/],
    [8.64e15 + 1, /after 9999-12-31T23:59:59\.999Z: event times must be in years 0001 to 9999/],
    [null, /a object|an object/],
    [true, /a boolean/],
    [{ ms: 1 }, /an object/],
    [[2026, 3, 1], /an array/],
    [undefined, /undefined/],
  ];
  for (const [input, why] of cases) {
    assert.equal(parseEventTimeMs(input), undefined, `input ${JSON.stringify(input)}`);
    assert.match(eventTimeProblem(input), why, `input ${JSON.stringify(input)}`);
  }
});

test('refused: instants outside years 0001–9999, which PostgreSQL cannot store or flowmark cannot write (issue 12)', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['0000-01-01T00:00:00Z', /before 0001-01-01T00:00:00\.000Z/],
    ['0000-12-31T23:59:59.999Z', /before 0001-01-01/],
    ['0001-01-01T00:59:59+01:00', /before 0001-01-01/],
    ['9999-12-31T23:00:00-01:00', /after 9999-12-31T23:59:59\.999Z/],
    [-8_640_000_000_000_000, /before 0001-01-01/],
    [8_640_000_000_000_000, /after 9999-12-31/], // +275760-09-13
    [-62_135_596_800_001, /before 0001-01-01/],
    [253_402_300_800_000, /after 9999-12-31/],
  ];
  for (const [input, why] of cases) {
    assert.equal(parseEventTimeMs(input), undefined, `input ${JSON.stringify(input)}`);
    assert.match(eventTimeProblem(input), why, `input ${JSON.stringify(input)}`);
    assert.match(eventTimeProblem(input), /years 0001 to 9999/);
  }
});

test('daysFromCivil equals Date.UTC for every day of years 100–9999 sampled, and months/days exhaustively for some years', () => {
  for (const y of [100, 1600, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 9999]) {
    for (let m = 1; m <= 12; m++) {
      for (let d = 1; d <= 31; d++) {
        const utc = Date.UTC(y, m - 1, d);
        if (new Date(utc).getUTCDate() !== d) continue;
        assert.equal(daysFromCivil(y, m, d) * 86_400_000, utc, `${y}-${m}-${d}`);
      }
    }
  }
  fc.assert(
    fc.property(
      fc.date({
        min: new Date('0001-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59.999Z'),
        noInvalidDate: true,
      }),
      (date) => {
        const iso = date.toISOString();
        assert.equal(parseEventTimeMs(iso), date.getTime(), iso);
        assert.equal(parseEventTimeMs(iso.replace('T', ' ').replace('Z', '')), date.getTime(), iso);
      },
    ),
    { numRuns: 2000 },
  );
});

test('property: any instant written with any offset parses back to the same instant', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: Date.UTC(1000, 0, 2), max: Date.UTC(9998, 11, 30) }),
      fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
      fc.constantFrom('+HH:MM', '+HHMM'),
      (ms, offsetMin, style) => {
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
        const sign = offsetMin < 0 ? '-' : '+';
        const hh = String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, '0');
        const mm = String(Math.abs(offsetMin) % 60).padStart(2, '0');
        const text = `${local}${sign}${hh}${style === '+HH:MM' ? ':' : ''}${mm}`;
        assert.equal(parseEventTimeMs(text), ms, text);
      },
    ),
    { numRuns: 2000 },
  );
});

test('property: parseEventTimeMs never throws, and accepts a string only if it is a real calendar instant', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.anything(),
        fc.stringMatching(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$/),
      ),
      (v) => {
        const ms = parseEventTimeMs(v);
        if (ms === undefined) return;
        assert.ok(Number.isInteger(ms));
        if (typeof v === 'string') {
          // The UTC fields of a naive or Z string are exactly those written.
          if (!/[+-]\d{2}(:?\d{2})?$/.test(v))
            assert.equal(new Date(ms).toISOString().slice(0, 19), `${v.slice(0, 10)}T${v.slice(11, 19)}`);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

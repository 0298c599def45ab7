// flowmark's dashboard: listens to /api/stream (Server-Sent Events) and redraws its panels.
// `summary` events carry the last hour of analytics (src/server/summary-queries.ts), `status`
// events the pipeline's figures, alerts and health (src/observability/monitor-types.ts).
// Charts are inline SVG drawn below; nothing is loaded from anywhere but this server.

const SVG_NS = 'http://www.w3.org/2000/svg';
const STALE_AFTER_MS = 5000;
const SPARK_WINDOW_MS = 120_000;

const params = new URLSearchParams(location.search);
const currency = /^[A-Z]{3}$/.test(params.get('currency') ?? '') ? params.get('currency') : 'USD';
const moneyFormat = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency,
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const moneyShortFormat = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency,
  notation: 'compact',
  maximumFractionDigits: 1,
});
const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

const money = (x) => (x === null || x === undefined ? '–' : moneyFormat.format(x));
const int = (x) => (x === null || x === undefined ? '–' : intFormat.format(x));
const percent = (x) => (Number.isFinite(x) ? percentFormat.format(x) : '–');

/** Seconds as `850 ms`, `4.2 s`, `3 min 05 s`, `2 h 10 min`; null as `–`. */
function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 1) return `${intFormat.format(Math.round(s * 1000))} ms`;
  if (s < 60) return `${oneDecimal.format(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? intFormat.format(n) : oneDecimal.format(n)} ${units[i]}`;
}

/** `2026-03-01T09:14:03.512Z` → `09:14` (UTC). */
const hhmm = (iso) => iso.slice(11, 16);
const hhmmss = (iso) => iso.slice(11, 19);

/** Labels for the values the pipeline writes (`none`: no attributed click). */
function label(dimension, value) {
  if (value === 'none' && dimension === 'source') return 'no click';
  if (value === 'unspecified' && dimension === 'failed') return 'no reason given';
  return value.replaceAll('_', ' ');
}

// ---- DOM helpers ----------------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);
const field = (name) => document.querySelector(`[data-field="${name}"]`);
const panel = (name) => document.querySelector(`[data-panel="${name}"]`);

function setText(name, text) {
  const node = field(name);
  if (node !== null && node.textContent !== text) node.textContent = text;
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c);
  return node;
}

function setState(name, ready) {
  const p = panel(name);
  if (p !== null) p.dataset.state = ready ? 'ready' : 'waiting';
}

/** The empty-state text of a panel (what it waits for, honestly). */
function setEmpty(name, text) {
  const p = panel(name)?.querySelector('.empty');
  if (p && p.textContent !== text) p.textContent = text;
}

// ---- charts ---------------------------------------------------------------------------------------

/** A round upper bound for a scale: 1, 2, 2.5 or 5 × 10^k, at least `x`. */
function niceMax(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** Axis ticks from 0: a round step (1, 2, 2.5 or 5 × 10^k) giving at most `count` steps up to ≥ `x`. */
function niceTicks(x, count = 4) {
  const step = niceMax((x > 0 ? x : 1) / count);
  const top = Math.max(step, Math.ceil(x / step - 1e-9) * step);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return ticks;
}

/**
 * Revenue bars and a profit line, one point per minute of the hour (`closed`), then the minutes in
 * progress (`open`): lighter, dashed bars behind a divider labelled "in progress", no profit line
 * (their figures are incomplete and change until their window closes).
 */
function drawPerMinute(container, closed, open = []) {
  const points = [...closed, ...open];
  const width = Math.max(280, Math.round(container.clientWidth || 600));
  const height = width < 520 ? 200 : 260;
  const m = { left: 58, right: 8, top: open.length > 0 ? 18 : 10, bottom: 24 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const ticks = niceTicks(Math.max(...points.map((p) => p.revenue), 0));
  const max = ticks[ticks.length - 1];
  const y = (v) => m.top + h - (v / max) * h;
  const band = w / points.length;
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label':
      `Revenue and profit per minute; peak revenue ${money(Math.max(0, ...closed.map((p) => p.revenue)))}` +
      (open.length > 0 ? `; ${open.length} minute(s) in progress, incomplete` : ''),
  });
  const axis = svg('g', { class: 'axis' });
  for (const v of ticks) {
    root.append(svg('line', { class: 'gridline', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
    axis.append(svg('text', { x: m.left - 8, y: y(v) + 4, 'text-anchor': 'end', text: moneyShortFormat.format(v) }));
  }
  const every = width < 520 ? 15 : 10;
  points.forEach((p, i) => {
    if (i % every === 0 || i === points.length - 1) {
      const anchor = i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle';
      const x = i === points.length - 1 ? m.left + w : m.left + band * i + band / 2;
      axis.append(svg('text', { x, y: height - 6, 'text-anchor': anchor, text: hhmm(p.minute) }));
    }
  });
  root.append(axis);
  const bars = svg('g');
  points.forEach((p, i) => {
    const inProgress = i >= closed.length;
    const x = m.left + band * i;
    const bw = Math.max(1, band * 0.72);
    const top = y(p.revenue);
    const title =
      `${hhmm(p.minute)} UTC${inProgress ? ' (in progress, incomplete: provisional rows included)' : ''} — ` +
      `revenue ${money(p.revenue)}, profit ${money(p.profit)}, ${int(p.checkouts)} checkouts`;
    const g = svg('g', {}, [svg('title', { text: title })]);
    g.append(svg('rect', { x, y: m.top, width: band, height: h, fill: 'transparent' }));
    if (p.revenue > 0 || (inProgress && p.checkouts > 0)) {
      g.append(
        svg('rect', {
          class: inProgress ? 'bar-open' : 'bar-revenue',
          x: x + (band - bw) / 2,
          y: Math.min(top, m.top + h - 1),
          width: bw,
          height: Math.max(m.top + h - top, 1),
          rx: Math.min(2, bw / 4),
          'data-minute': p.minute,
        }),
      );
    }
    bars.append(g);
  });
  root.append(bars);
  if (open.length > 0) {
    const x0 = m.left + band * closed.length;
    root.append(svg('line', { class: 'open-divider', x1: x0, x2: x0, y1: m.top - 14, y2: m.top + h }));
    const anchor = closed.length === 0 ? 'start' : 'end';
    root.append(
      svg('text', {
        class: 'open-label',
        x: closed.length === 0 ? x0 + 2 : m.left + w,
        y: m.top - 5,
        'text-anchor': anchor,
        text: 'in progress',
      }),
    );
  }
  if (closed.length > 0) {
    const xy = closed.map((p, i) => [m.left + band * i + band / 2, y(p.profit)]);
    const line = xy.map(([x, yy], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${yy.toFixed(1)}`).join('');
    const base = (m.top + h).toFixed(1);
    const first = xy[0];
    const last = xy[xy.length - 1];
    root.append(
      svg('path', { class: 'area-profit', d: `${line}L${last[0].toFixed(1)},${base}L${first[0].toFixed(1)},${base}Z` }),
    );
    root.append(svg('path', { class: 'line-profit', d: line }));
    root.append(svg('circle', { class: 'dot-profit', cx: last[0], cy: last[1], r: 3 }));
  }
  container.replaceChildren(root);
}

/** Label | bar | figures rows; `value(entry)` sets the bar's length. */
function drawBars(container, dimension, entries, value, figures) {
  const max = Math.max(...entries.map(value), 0) || 1;
  const rows = entries.map((e) => {
    const share = value(e) / max;
    const bar = svg(
      'svg',
      { class: 'bar-track', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
      [
        svg('rect', { class: 'track', x: 0, y: 0, width: 100, height: 10, rx: 2 }),
        svg('rect', {
          class: 'fill',
          x: 0,
          y: 0,
          width: Math.max(share * 100, value(e) > 0 ? 0.8 : 0),
          height: 10,
          rx: 2,
        }),
      ],
    );
    const name = e.other ? `other (${e.merged})` : label(dimension, e.value);
    return el('div', { class: 'bar-row', 'data-value': e.value }, [
      el('span', { class: e.other ? 'bar-label other' : 'bar-label', text: name, title: name }),
      bar,
      el('span', { class: 'bar-figures' }, figures(e)),
    ]);
  });
  container.replaceChildren(...rows);
}

/** A donut of shares, its total in the middle, and a legend. */
function drawDonut(chart, legend, entries) {
  const total = entries.reduce((n, e) => n + e.checkouts, 0);
  const r = 48;
  const c = 2 * Math.PI * r;
  const root = svg('svg', { viewBox: '0 0 132 132', role: 'img', 'aria-label': 'Checkouts by customer gender' });
  let offset = 0;
  entries.forEach((e, i) => {
    const len = total > 0 ? (e.checkouts / total) * c : 0;
    const title = `${label('gender', e.value)}: ${int(e.checkouts)} (${percent(e.checkouts / total)})`;
    const segment = svg(
      'circle',
      {
        class: `seg s${(i % 7) + 1}`,
        cx: 66,
        cy: 66,
        r,
        'stroke-dasharray': `${Math.max(len - 1.2, 0.01)} ${c}`,
        'stroke-dashoffset': -offset,
        transform: 'rotate(-90 66 66)',
      },
      [svg('title', { text: title })],
    );
    root.append(segment);
    offset += len;
  });
  root.append(svg('text', { class: 'center-value', x: 66, y: 67, 'text-anchor': 'middle', text: int(total) }));
  root.append(svg('text', { class: 'center-label', x: 66, y: 82, 'text-anchor': 'middle', text: 'checkouts' }));
  chart.replaceChildren(root);
  legend.replaceChildren(
    ...entries.map((e, i) =>
      el('li', { 'data-value': e.value }, [
        el('span', { class: `key s${(i % 7) + 1}` }),
        el('span', { class: 'bar-label', text: e.other ? `other (${e.merged})` : label('gender', e.value) }),
        el('span', { text: int(e.checkouts) }),
        el('span', { class: 'share', text: percent(total > 0 ? e.checkouts / total : Number.NaN) }),
      ]),
    ),
  );
}

/** A small line of the last `SPARK_WINDOW_MS` of `[timeMs, value]` samples (null values are gaps). */
function drawSpark(container, series, classes = ['']) {
  const width = 160;
  const height = 40;
  // The newest sample's time is the right edge (server time: the browser's clock may differ).
  const now = Math.max(...series.flat().map(([t]) => t));
  const all = series.flat().map(([, v]) => v);
  const max = niceMax(Math.max(...all.filter((v) => v !== null && Number.isFinite(v)), 0));
  // The time axis spans the samples kept (at least 10 s), up to SPARK_WINDOW_MS once that is full.
  const oldest = Math.min(...series.flat().map(([t]) => t));
  const span = Math.min(SPARK_WINDOW_MS, Math.max(10_000, now - oldest));
  const x = (t) => width - ((now - t) / span) * width;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  series.forEach((samples, k) => {
    let d = '';
    let pen = false;
    for (const [t, v] of samples) {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      const yy = height - 2 - (v / max) * (height - 4);
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${yy.toFixed(1)}`;
      pen = true;
    }
    if (k === 0 && d !== '' && samples.every(([, v]) => v !== null)) {
      const x0 = x(samples[0][0]).toFixed(1);
      const x1 = x(samples[samples.length - 1][0]).toFixed(1);
      root.append(svg('path', { class: 'spark-area', d: `${d}L${x1},${height}L${x0},${height}Z` }));
    }
    root.append(svg('path', { class: `spark-line ${classes[k] ?? ''}`, d, 'vector-effect': 'non-scaling-stroke' }));
  });
  container.replaceChildren(root);
}

// ---- the panels -----------------------------------------------------------------------------------

let lastSummary = null;

function renderSummary(s) {
  lastSummary = s;
  const has = s.from !== null;
  setText(
    'window-range',
    has ? `${hhmm(s.from)} – ${hhmm(s.to)} UTC, ${s.to.slice(0, 10)}` : 'waiting for the first closed minute',
  );
  setState('totals', has);
  if (has) {
    setText('checkouts', int(s.checkouts));
    setText('revenue', money(s.revenue));
    setText('profit', money(s.profit));
    setText('failed', int(s.failedPayments));
    setText('checkouts-note', `${oneDecimal.format(s.checkouts / 60)} per minute`);
    setText('revenue-note', `${money(s.checkouts > 0 ? s.revenue / s.checkouts : 0)} per checkout`);
    setText('profit-note', `${percent(s.revenue > 0 ? s.profit / s.revenue : Number.NaN)} margin`);
    setText('failed-note', `${percent(s.checkouts > 0 ? s.failedPayments / s.checkouts : Number.NaN)} of checkouts`);
  }

  // The minutes after the hour, from the checkouts so far: on screen within a checkpoint of a
  // checkout, long before its window closes; marked as incomplete, never added to the totals.
  const open = s.inProgress ?? [];
  setState('per-minute', has || open.length > 0);
  if (has || open.length > 0) drawPerMinute($('[data-chart="per-minute"]'), s.perMinute, open);
  renderInProgress(open);

  const money2 = (e) => [document.createTextNode(money(e.revenue)), el('small', { text: int(e.checkouts) })];
  setState('sources', has && s.bySource.length > 0);
  if (has) drawBars($('[data-list="sources"]'), 'source', s.bySource, (e) => e.revenue, money2);
  setState('categories', has && s.byCategory.length > 0);
  if (has) drawBars($('[data-list="categories"]'), 'category', s.byCategory, (e) => e.revenue, money2);

  // No failed payment in the hour is data too: said plainly, not as "waiting".
  setState('failed', has);
  if (has) {
    const failed = $('[data-list="failed"]');
    if (s.failedByReason.length === 0) {
      failed.replaceChildren(el('p', { class: 'none', text: 'No failed payment in this hour.' }));
    } else {
      drawBars(
        failed,
        'failed',
        s.failedByReason,
        (e) => e.checkouts,
        (e) => [
          document.createTextNode(int(e.checkouts)),
          el('small', { text: percent(s.failedPayments > 0 ? e.checkouts / s.failedPayments : Number.NaN) }),
        ],
      );
    }
  }

  setState('gender', has && s.byGender.length > 0);
  if (has && s.byGender.length > 0) drawDonut($('[data-chart="gender"]'), $('[data-list="gender"]'), s.byGender);

  if (!has) {
    const text =
      'Waiting for the first closed minute: a one-minute window is written once the watermark passes its end.';
    for (const name of ['per-minute', 'sources', 'categories', 'failed', 'gender']) setEmpty(name, text);
  }
  renderLatest(s.latestCheckouts);
}

/** The line under the chart about the minutes in progress (hidden when there are none). */
function renderInProgress(open) {
  const node = field('in-progress');
  node.hidden = open.length === 0;
  if (open.length === 0) return;
  const first = open[0];
  const end = new Date(Date.parse(open[open.length - 1].minute) + 60_000).toISOString();
  const checkouts = open.reduce((n, p) => n + p.checkouts, 0);
  const revenue = open.reduce((n, p) => n + p.revenue, 0);
  setText(
    'in-progress',
    `In progress (incomplete, not in the totals): ${hhmm(first.minute)} – ${hhmm(end)} UTC, ` +
      `${int(checkouts)} checkout${checkouts === 1 ? '' : 's'}, ${money(revenue)} so far, provisional rows included.`,
  );
}

function renderLatest(rows) {
  setState('latest', rows.length > 0);
  const body = $('[data-list="latest"]');
  body.replaceChildren(
    ...rows.map((r) => {
      const failed = r.paymentStatus !== 'success';
      const payment = el('span', {
        class: `tag ${failed ? 'failed' : 'success'}`,
        text: failed ? `failed${r.paymentDescription ? `: ${r.paymentDescription}` : ''}` : 'paid',
      });
      return el('tr', { 'data-checkout': r.checkoutId }, [
        el('td', { text: hhmmss(r.checkoutTime), title: r.checkoutTime }),
        el('td', { text: r.userName ?? 'unknown user', class: r.userName ? 'opt-phone' : 'opt-phone dim' }),
        el('td', {
          text: r.productName ?? 'unknown product',
          title: r.productName ?? '',
          class: r.productName ? '' : 'dim',
        }),
        el('td', { class: 'opt dim', text: r.category ?? '–' }),
        el('td', {}, [el('span', { class: 'tag', text: r.source ? label('source', r.source) : 'no click' })]),
        el('td', { class: 'num', text: money(r.orderValue) }),
        el('td', { class: 'num opt', text: money(r.profit) }),
        el('td', {}, [payment]),
        el('td', { class: 'opt' }, [
          el('span', { class: r.isFinal ? 'tag' : 'tag provisional', text: r.isFinal ? 'final' : 'provisional' }),
        ]),
      ]);
    }),
  );
}

const history = { events: [], p50: [], p99: [] };
let lastStatusAt = 0;

function pushHistory(list, timeMs, v) {
  list.push([timeMs, v]);
  while (list.length > 0 && list[0][0] < timeMs - SPARK_WINDOW_MS) list.shift();
}

function renderStatus(msg) {
  lastStatusAt = Date.now();
  if (msg.error !== undefined) {
    setText('health-badge', 'status unavailable');
    return;
  }
  const { status: st, alerts, health } = msg;
  setState('health', true);
  setState('alerts', true);
  const badge = field('health-badge');
  badge.textContent = health.status === 'ok' ? 'healthy' : 'unhealthy';
  badge.className = `badge ${health.status === 'ok' ? 'ok' : 'bad'}`;
  field('health-reasons').replaceChildren(...health.reasons.map((r) => el('li', { text: r })));

  setText('events-in-rate', oneDecimal.format(st.eventsInPerSecond));
  setText('events-in-total', int(st.eventsInTotal));
  setText('latency-p50', duration(st.latencyP50Seconds));
  setText('latency-p99', duration(st.latencyP99Seconds));
  setText('watermark-lag', duration(st.watermarkLagSeconds));
  setText('consumer-lag', st.consumerLagRecords === null ? '–' : `${int(st.consumerLagRecords)} records`);
  setText('state-entries', `${int(st.stateEntries)} · ${bytes(st.stateBytes)}`);
  setText('late-events', int(st.lateEventsTotal));
  setText('dead-letters', int(st.deadLettersTotal));
  setText(
    'checkpoint-age',
    st.lastCheckpointAgeSeconds === null
      ? 'none yet'
      : `${duration(st.lastCheckpointAgeSeconds)} ago · #${st.checkpointId}`,
  );
  field('checkpoint-age').classList.toggle('warn', (st.lastCheckpointAgeSeconds ?? 0) > 30);

  pushHistory(history.events, st.atMs, st.eventsInPerSecond);
  pushHistory(history.p50, st.atMs, st.latencyP50Seconds);
  pushHistory(history.p99, st.atMs, st.latencyP99Seconds);
  drawSpark($('[data-spark="events-in"]'), [history.events]);
  drawSpark($('[data-spark="latency"]'), [history.p99, history.p50], ['p99', '']);

  setText('alert-count', alerts.length === 0 ? '' : `${alerts.length} firing`);
  const list = $('[data-list="alerts"]');
  if (alerts.length === 0) {
    list.replaceChildren(
      el('li', { class: 'alert none' }, [
        el('strong', { text: 'No active alerts' }),
        el('p', { text: 'Every alert rule is quiet.' }),
      ]),
    );
  } else {
    list.replaceChildren(
      ...alerts.map((a) =>
        el('li', { class: `alert ${a.severity}`, 'data-alert': a.name }, [
          el('strong', { text: `${a.name} · ${a.severity}` }),
          el('p', { text: a.summary }),
          el('p', { text: `firing for ${duration((st.atMs - a.sinceMs) / 1000)}` }),
        ]),
      ),
    );
  }
}

// ---- connection -----------------------------------------------------------------------------------

function setConnection(state, text) {
  const c = field('connection');
  c.dataset.state = state;
  setText('connection-text', text);
}

function showBanner(text) {
  const b = field('banner');
  b.hidden = text === null;
  if (text !== null) b.textContent = text;
}

function connect() {
  const source = new EventSource('api/stream');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('error', () => setConnection('reconnecting', 'reconnecting…'));
  source.addEventListener('summary', (e) => {
    showBanner(null);
    renderSummary(JSON.parse(e.data));
  });
  source.addEventListener('summary_error', (e) => {
    const { message } = JSON.parse(e.data);
    showBanner(
      `The analytics cannot be read from the database (${message}); the figures below are the last ones read.`,
    );
  });
  source.addEventListener('status', (e) => {
    renderStatus(JSON.parse(e.data));
    if (field('connection').dataset.state !== 'live') setConnection('live', 'live');
  });
}

setInterval(() => {
  const age = Date.now() - lastStatusAt;
  if (lastStatusAt > 0 && age > STALE_AFTER_MS && field('connection').dataset.state === 'live') {
    setConnection('stale', `no update for ${Math.round(age / 1000)} s`);
  }
}, 1000);

// Redraw the chart when its width changes (a rotated phone, a resized window).
let resizeTimer;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    const open = lastSummary?.inProgress ?? [];
    if (lastSummary?.from || open.length > 0)
      drawPerMinute($('[data-chart="per-minute"]'), lastSummary.perMinute, open);
  }, 100);
}).observe($('[data-chart="per-minute"]'));

connect();

/**
 * The public entry of flowmark's HTTP layer: the dashboard, its JSON and SSE API, `/metrics` and
 * `/health`. The CLI starts it with the running pipeline's monitor and the output database.
 */
export { EventStream, type EventStreamOptions, healthBody } from './event-stream.ts';
export { exposureWarning, hostRefusal, isLoopbackHost } from './host-check.ts';
export { type HttpServer, type HttpServerOptions, startHttpServer } from './http-server.ts';
export { DEFAULT_WEB_DIR, findAsset, loadStaticAssets, type StaticAsset } from './static-assets.ts';
export { type CachedSummary, SummaryCache } from './summary-cache.ts';
export {
  type BreakdownEntry,
  type Figures,
  type LatestCheckout,
  type MinutePoint,
  querySummary,
  type Summary,
  type SummaryDb,
  type SummaryOptions,
  type SummaryTime,
  topN,
} from './summary-queries.ts';

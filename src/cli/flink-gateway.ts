/**
 * A small client of Apache Flink's SQL Gateway REST API (v1, Flink 1.16+), for `flowmark flink
 * deploy` and `flowmark flink status`: open a session, run statements one at a time (each is an
 * operation: submitted, polled until it finishes, its result read page by page), close it.
 *
 *   POST   /v1/sessions                                        → { sessionHandle }
 *   POST   /v1/sessions/{s}/statements  { statement }          → { operationHandle }
 *   GET    /v1/sessions/{s}/operations/{o}/status              → { status: RUNNING | FINISHED | ERROR | … }
 *   GET    /v1/sessions/{s}/operations/{o}/result/{token}      → { resultType, results: { columns, data }, jobID?, nextResultUri }
 *   DELETE /v1/sessions/{s}
 */
import { FlowmarkError } from '../engine/index.ts';

/** The result of one statement: its rows (`fields` of each), and the job it started, if any. */
export interface StatementResult {
  columns: string[];
  rows: unknown[][];
  jobId?: string;
}

interface ResultPage {
  resultType?: 'NOT_READY' | 'PAYLOAD' | 'EOS';
  results?: { columns?: { name: string }[]; data?: { fields: unknown[] }[] };
  jobID?: string;
  nextResultUri?: string | null;
}

/** How long one statement may take (a DDL, or the submission of a job: not the job itself). */
const STATEMENT_TIMEOUT_MS = 120_000;
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FlinkGateway {
  readonly #base: string;

  /** `url`: the gateway's REST endpoint, e.g. `http://127.0.0.1:8083`. */
  constructor(url: string) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `--gateway "${url}" is not a URL: give the SQL Gateway's REST endpoint, e.g. http://127.0.0.1:8083`,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `--gateway must be an http:// or https:// URL, not ${parsed.protocol}//…`,
      );
    }
    this.#base = parsed.toString().replace(/\/+$/, '');
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `the Flink SQL Gateway at ${this.#base} does not answer (${(err as Error).cause ?? err}): start it (bin/sql-gateway.sh start) or fix --gateway`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new FlowmarkError(
        'FM_CONFIG_INVALID',
        `the Flink SQL Gateway refused ${method} ${path}: ${gatewayError(text, res.status)}`,
      );
    }
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  async openSession(name = 'flowmark'): Promise<string> {
    const r = await this.#call<{ sessionHandle: string }>('POST', '/v1/sessions', { sessionName: name });
    return r.sessionHandle;
  }

  async closeSession(session: string): Promise<void> {
    await this.#call('DELETE', `/v1/sessions/${session}`).catch(() => {});
  }

  /** Runs one statement to its end and reads its whole result; a statement Flink refuses throws, quoting Flink's reason. */
  async execute(session: string, statement: string): Promise<StatementResult> {
    const { operationHandle: op } = await this.#call<{ operationHandle: string }>(
      'POST',
      `/v1/sessions/${session}/statements`,
      { statement },
    );
    const ops = `/v1/sessions/${session}/operations/${op}`;
    const deadline = Date.now() + STATEMENT_TIMEOUT_MS;
    for (;;) {
      const { status } = await this.#call<{ status: string }>('GET', `${ops}/status`);
      if (status === 'FINISHED') break;
      if (status === 'ERROR' || status === 'CANCELED' || status === 'CLOSED' || status === 'TIMEOUT') {
        // The error itself comes with the result.
        await this.#call('GET', `${ops}/result/0`).catch((err: unknown) => {
          throw new FlowmarkError(
            'FM_CONFIG_INVALID',
            `Flink refused the statement ${firstLine(statement)}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        });
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `Flink ended the statement ${firstLine(statement)} with status ${status}`,
        );
      }
      if (Date.now() > deadline) {
        throw new FlowmarkError(
          'FM_CONFIG_INVALID',
          `the statement ${firstLine(statement)} did not finish within ${STATEMENT_TIMEOUT_MS / 1000} s (status ${status})`,
        );
      }
      await sleep(POLL_MS);
    }
    const out: StatementResult = { columns: [], rows: [] };
    let next: string | null | undefined = `${ops}/result/0`;
    while (next) {
      const page: ResultPage = await this.#call<ResultPage>('GET', next);
      if (page.results?.columns !== undefined) out.columns = page.results.columns.map((c) => c.name);
      for (const row of page.results?.data ?? []) out.rows.push(row.fields);
      if (page.jobID !== undefined) out.jobId = page.jobID;
      if (page.resultType === 'EOS') break;
      if (page.resultType === 'NOT_READY') await sleep(POLL_MS);
      next = page.nextResultUri;
    }
    return out;
  }
}

/** The reason in a gateway error body (`{"errors": ["Internal server error.", "<stack>"]}`): the deepest "Caused by". */
function gatewayError(body: string, status: number): string {
  try {
    const errors = (JSON.parse(body) as { errors?: string[] }).errors ?? [];
    const detail = errors.find((e) => e.includes('\n')) ?? errors.join(' ');
    const causes = [...detail.matchAll(/Caused by: ([^\n]+)/g)].map((m) => m[1] as string);
    return (causes.at(-1) ?? detail.split('\n')[0] ?? `HTTP ${status}`).trim();
  } catch {
    return `HTTP ${status} ${body.slice(0, 200)}`;
  }
}

function firstLine(statement: string): string {
  const line = statement.split('\n')[0] ?? '';
  return `"${line.length > 80 ? `${line.slice(0, 80)}…` : line}"`;
}

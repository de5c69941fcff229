import { createHttpClient, type HttpClientOptions } from "../http/http-client";
import { HttpError } from "../http/http-error";
import { authorizationFromEnv, credentialsInUri, redactUri } from "./backend-auth";

/** Options of {@link searchMlflowRuns}. */
export interface SearchMlflowRunsOptions {
  /** The tracking server, like `http://127.0.0.1:5000`; defaults to `MEDFM_TRACK_URI`. */
  uri?: string;
  /** The experiment (a project of `initRun`) to search in, by name. */
  experiment: string;
  /** Tags every run found must carry, with these exact values. */
  tags?: Record<string, string>;
  /** Only runs in this status, like `FINISHED`. */
  status?: "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";
  /** At most this many runs (default 1000, MLflow's page size limit is 50,000). */
  maxResults?: number;
  /** Environment for credentials (`MLFLOW_TRACKING_TOKEN`, or `..._USERNAME` and `..._PASSWORD`). */
  env?: Record<string, string | undefined>;
  /** HTTP settings (timeouts, retries). */
  http?: Omit<HttpClientOptions, "baseUrl" | "headers">;
  signal?: AbortSignal;
}

/** One run found by {@link searchMlflowRuns}, its data flattened into records. */
export interface MlflowRunSummary {
  runId: string;
  experimentId: string;
  status: string;
  startTime?: number;
  endTime?: number;
  /** Latest value of each metric. */
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
}

/** Quotes a value for an MLflow search filter (single quotes; a quote inside is dropped). */
function quoted(value: string): string {
  return `'${value.replace(/'/g, "")}'`;
}

/** Quotes a key for an MLflow search filter, in backticks when it is not a plain identifier. */
function quotedKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `\`${key.replace(/`/g, "")}\``;
}

interface RawRun {
  info: {
    run_id: string;
    experiment_id: string;
    status: string;
    start_time?: number | string;
    end_time?: number | string;
  };
  data?: {
    metrics?: { key: string; value: number }[];
    params?: { key: string; value: string }[];
    tags?: { key: string; value: string }[];
  };
}

/**
 * Finds runs of an MLflow experiment by tag values (and status) through the REST API's
 * `runs/search`, following page tokens. An experiment that does not exist has no runs.
 * Credentials come from the URI's `user:password@` or `MLFLOW_TRACKING_*`; messages name the
 * server without them.
 *
 * @example
 * const runs = await searchMlflowRuns({ experiment: "medfm-grid", tags: { grid_job_id: id }, status: "FINISHED" });
 */
export async function searchMlflowRuns(
  options: SearchMlflowRunsOptions,
): Promise<MlflowRunSummary[]> {
  const env = options.env ?? process.env;
  const rawUri = options.uri ?? env.MEDFM_TRACK_URI;
  if (!rawUri)
    throw new Error("searchMlflowRuns needs a server URI (option uri or MEDFM_TRACK_URI)");
  const http = createHttpClient({
    ...options.http,
    baseUrl: redactUri(rawUri),
    headers: { ...credentialsInUri(rawUri), ...authorizationFromEnv("MLFLOW_TRACKING", env) },
  });
  try {
    let experimentId: string;
    try {
      const found = await http.request({
        method: "GET",
        path: "/api/2.0/mlflow/experiments/get-by-name",
        query: { experiment_name: options.experiment },
        signal: options.signal,
      });
      experimentId = (found.json as { experiment: { experiment_id: string } }).experiment
        .experiment_id;
    } catch (error) {
      if (HttpError.isInstance(error) && (error as HttpError).status === 404) return [];
      throw error;
    }
    const clauses = Object.entries(options.tags ?? {}).map(
      ([key, value]) => `tags.${quotedKey(key)} = ${quoted(value)}`,
    );
    if (options.status) clauses.push(`attributes.status = ${quoted(options.status)}`);
    const limit = options.maxResults ?? 1000;
    const runs: MlflowRunSummary[] = [];
    let pageToken: string | undefined;
    do {
      const answer = await http.request({
        method: "POST",
        path: "/api/2.0/mlflow/runs/search",
        json: {
          experiment_ids: [experimentId],
          filter: clauses.join(" and "),
          max_results: Math.min(1000, limit - runs.length),
          order_by: ["attributes.start_time ASC"],
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        signal: options.signal,
      });
      const page = answer.json as { runs?: RawRun[]; next_page_token?: string };
      for (const run of page.runs ?? []) {
        const pairs = <T>(list: { key: string; value: T }[] | undefined) =>
          Object.fromEntries((list ?? []).map((entry) => [entry.key, entry.value]));
        runs.push({
          runId: run.info.run_id,
          experimentId: run.info.experiment_id,
          status: run.info.status,
          startTime: run.info.start_time === undefined ? undefined : Number(run.info.start_time),
          endTime: run.info.end_time === undefined ? undefined : Number(run.info.end_time),
          metrics: pairs(run.data?.metrics),
          params: pairs(run.data?.params),
          tags: pairs(run.data?.tags),
        });
      }
      pageToken = page.next_page_token || undefined;
    } while (pageToken && runs.length < limit);
    return runs;
  } finally {
    await http.close();
  }
}

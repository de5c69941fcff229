import { readFile } from "node:fs/promises";
import { createHttpClient, type HttpClient, type HttpClientOptions } from "../http/http-client";
import { HttpError } from "../http/http-error";
import type { StoredRun } from "../read-run";
import { TrackError } from "../track-error";
import { authorizationFromEnv, credentialsInUri, redactUri } from "./backend-auth";
import { toMlflowKey } from "./mlflow-key";
import type { BackendItem, RemoteRun, RemoteRunInfo, TrackingBackend } from "./tracking-backend";

/** MLflow's documented request limits for `runs/log-batch` and its value lengths. */
export const mlflowLimits = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** Request body bytes; we stay under it with room for the JSON envelope. */
  batchBytes: 1_000_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
} as const;

/** Options of {@link createMlflowBackend}. */
export interface MlflowBackendOptions {
  /** The tracking server, like `http://127.0.0.1:5000`; defaults to `MEDFM_TRACK_URI`. */
  uri?: string;
  /** Environment for credentials (`MLFLOW_TRACKING_TOKEN`, or `..._USERNAME` and `..._PASSWORD`). */
  env?: Record<string, string | undefined>;
  /** HTTP settings (timeouts, retries). */
  http?: Omit<HttpClientOptions, "baseUrl" | "headers">;
  /** Receives warnings (truncated values, renamed keys). */
  warn?: (message: string) => void;
}

/** The tag MLflow runs get with the local run id; finding it makes run creation idempotent. */
export const mlflowRunIdTag = "medfm_run_id";

/**
 * An MLflow tracking server over its REST API 2.0, through a keep-alive undici pool.
 *
 * Mapping: `params/*` become params (without the `params/` prefix), other single values become
 * tags, float series become metrics, `sys/tags` members become tags with the value `true`, other
 * string sets a tag holding their JSON list, file fields artifacts (mlflow-artifacts PUT), string
 * series a tag with their last value and, when the run stops, an artifact `<path>.txt` with every
 * point. MLflow params cannot change: a param assigned a new value is logged as the tag
 * `params/<key>` instead, with a warning.
 */
export function createMlflowBackend(options: MlflowBackendOptions = {}): TrackingBackend {
  const env = options.env ?? process.env;
  const rawUri = options.uri ?? env.MEDFM_TRACK_URI;
  if (!rawUri)
    throw new TrackError("the mlflow backend needs a server URI (option uri or MEDFM_TRACK_URI)");
  const uri = redactUri(rawUri);
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const http: HttpClient = createHttpClient({
    ...options.http,
    baseUrl: uri,
    headers: { ...credentialsInUri(rawUri), ...authorizationFromEnv("MLFLOW_TRACKING", env) },
  });
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    warn(`@medfm/track mlflow: ${message}`);
  };
  const knownParams = new Map<string, Map<string, string>>();

  const api = async (
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    retry = true,
  ) => {
    const response = await http.request({
      method,
      path: `/api/2.0/mlflow/${path}`,
      ...(method === "GET" ? { query: body as Record<string, string> } : { json: body }),
      signal,
      retry,
    });
    return response.json as Record<string, unknown>;
  };

  const sanitizeKey = (key: string): string => {
    const clean = toMlflowKey(key);
    if (clean !== key)
      warnOnce(
        `key:${key}`,
        key.length > mlflowLimits.keyLength
          ? `key ${JSON.stringify(key)} has ${key.length} characters, more than MLflow's ${mlflowLimits.keyLength}; it is sent as ${JSON.stringify(clean)} (cut, with a hash of the whole key so that long keys stay apart)`
          : `key ${JSON.stringify(key)} is sent as ${JSON.stringify(clean)} (MLflow key rules)`,
      );
    return clean;
  };

  const truncate = (kind: "param" | "tag", key: string, value: string): string => {
    const limit = kind === "param" ? mlflowLimits.paramValueLength : mlflowLimits.tagValueLength;
    if (value.length <= limit) return value;
    warnOnce(
      `${kind}:${key}`,
      `${kind} ${key} has ${value.length} characters; truncated to MLflow's ${limit}`,
    );
    return value.slice(0, limit);
  };

  const stringOf = (item: { type: string; value: number | boolean | string }): string =>
    item.type === "datetime" ? new Date(item.value as number).toISOString() : String(item.value);

  const metricValue = (value: number): number | string =>
    Number.isFinite(value) ? value : String(value);

  async function loadParams(run: RemoteRun, signal?: AbortSignal): Promise<Map<string, string>> {
    let params = knownParams.get(run.id);
    if (!params) {
      const answer = (await api("GET", "runs/get", { run_id: run.id }, signal)) as {
        run?: { data?: { params?: { key: string; value: string }[] } };
      };
      params = new Map((answer.run?.data?.params ?? []).map((param) => [param.key, param.value]));
      knownParams.set(run.id, params);
    }
    return params;
  }

  async function createRun(info: RemoteRunInfo, signal?: AbortSignal): Promise<RemoteRun> {
    let experimentId: string;
    try {
      const found = (await api(
        "GET",
        "experiments/get-by-name",
        { experiment_name: info.project },
        signal,
      )) as {
        experiment: { experiment_id: string };
      };
      experimentId = found.experiment.experiment_id;
    } catch (error) {
      if (!(HttpError.isInstance(error) && (error as HttpError).status === 404)) throw error;
      try {
        const created = (await api(
          "POST",
          "experiments/create",
          { name: info.project },
          signal,
        )) as {
          experiment_id: string;
        };
        experimentId = created.experiment_id;
      } catch (createError) {
        // Another client created it in between.
        if (!(HttpError.isInstance(createError) && (createError as HttpError).status === 400))
          throw createError;
        const found = (await api(
          "GET",
          "experiments/get-by-name",
          { experiment_name: info.project },
          signal,
        )) as {
          experiment: { experiment_id: string };
        };
        experimentId = found.experiment.experiment_id;
      }
    }
    const search = (await api(
      "POST",
      "runs/search",
      {
        experiment_ids: [experimentId],
        filter: `tags.${mlflowRunIdTag} = '${info.runId.replace(/'/g, "")}'`,
        max_results: 1,
      },
      signal,
    )) as { runs?: { info: { run_id: string; artifact_uri: string } }[] };
    let runInfo = search.runs?.[0]?.info;
    if (!runInfo) {
      const tags = [{ key: mlflowRunIdTag, value: info.runId }];
      if (info.name)
        tags.push({ key: "mlflow.runName", value: truncate("tag", "mlflow.runName", info.name) });
      // Not retried blindly: a lost answer would create a second run. The sync engine repeats
      // createRun, whose search finds the first one.
      const created = (await api(
        "POST",
        "runs/create",
        {
          experiment_id: experimentId,
          run_name: info.name ?? info.runId,
          start_time: info.createdAt,
          tags,
        },
        signal,
        false,
      )) as { run: { info: { run_id: string; artifact_uri: string } } };
      runInfo = created.run.info;
    }
    return { id: runInfo.run_id, data: { experimentId, artifactUri: runInfo.artifact_uri } };
  }

  async function sendBatch(
    run: RemoteRun,
    body: { metrics: unknown[]; params: unknown[]; tags: unknown[] },
    signal?: AbortSignal,
  ): Promise<void> {
    if (body.metrics.length + body.params.length + body.tags.length === 0) return;
    await api("POST", "runs/log-batch", { run_id: run.id, ...body }, signal);
  }

  async function logBatch(
    run: RemoteRun,
    items: readonly BackendItem[],
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await logItems(run, items, signal);
    } catch (error) {
      // The server may hold more (or fewer) params than we know of now; ask it again next time.
      knownParams.delete(run.id);
      throw error;
    }
  }

  async function logItems(
    run: RemoteRun,
    items: readonly BackendItem[],
    signal?: AbortSignal,
  ): Promise<void> {
    /** Params the server holds: loaded from it, plus those of requests it answered. */
    let params: Map<string, string> | undefined;
    /** Params in `body`, known to the server only once that request succeeds. */
    let unsent = new Map<string, string>();
    let body = { metrics: [] as unknown[], params: [] as unknown[], tags: [] as unknown[] };
    let bytes = 0;
    const flush = async () => {
      await sendBatch(run, body, signal);
      for (const [key, value] of unsent) params?.set(key, value);
      unsent = new Map();
      body = { metrics: [], params: [], tags: [] };
      bytes = 0;
    };
    const add = async (list: "metrics" | "params" | "tags", entry: Record<string, unknown>) => {
      const size = JSON.stringify(entry).length + 1;
      const limit =
        list === "metrics"
          ? mlflowLimits.metricsPerBatch
          : list === "params"
            ? mlflowLimits.paramsPerBatch
            : mlflowLimits.tagsPerBatch;
      const total = body.metrics.length + body.params.length + body.tags.length;
      if (
        body[list].length >= limit ||
        total >= mlflowLimits.entitiesPerBatch ||
        bytes + size > mlflowLimits.batchBytes - 1000
      ) {
        await flush();
      }
      body[list].push(entry);
      bytes += size;
    };
    for (const item of items) {
      switch (item.kind) {
        case "metric":
          await add("metrics", {
            key: sanitizeKey(item.key),
            value: metricValue(item.value),
            timestamp: item.timestamp,
            step: item.step,
          });
          break;
        case "text":
          await add("tags", {
            key: sanitizeKey(item.key),
            value: truncate("tag", item.key, item.value),
          });
          break;
        case "param": {
          params ??= await loadParams(run, signal);
          const key = sanitizeKey(item.key.slice("params/".length));
          const value = truncate("param", key, stringOf(item));
          const previous = unsent.get(key) ?? params.get(key);
          if (previous === undefined || previous === value) {
            // MLflow rejects one batch holding the same param twice with different values.
            if (previous === undefined) {
              await add("params", { key, value });
              unsent.set(key, value);
            }
          } else {
            warnOnce(
              `changed:${key}`,
              `param ${key} changed from ${previous} to ${value}; MLflow params cannot change, so the new value is the tag params/${key}`,
            );
            await add("tags", { key: sanitizeKey(`params/${key}`), value });
          }
          break;
        }
        case "attribute":
          if (item.key === "sys/name") {
            await add("tags", {
              key: "mlflow.runName",
              value: truncate("tag", item.key, stringOf(item)),
            });
          }
          await add("tags", {
            key: sanitizeKey(item.key),
            value: truncate("tag", item.key, stringOf(item)),
          });
          break;
        case "setAdd":
        case "setRemove":
          if (item.key === "sys/tags") {
            for (const tag of item.values) {
              if (item.kind === "setAdd")
                await add("tags", { key: sanitizeKey(tag), value: "true" });
              else {
                await flush();
                await api(
                  "POST",
                  "runs/delete-tag",
                  { run_id: run.id, key: sanitizeKey(tag) },
                  signal,
                ).catch((error) => {
                  if (!(HttpError.isInstance(error) && (error as HttpError).status === 404))
                    throw error;
                });
              }
            }
          } else {
            warnOnce(
              `set:${item.key}`,
              `string set ${item.key} is logged as a tag holding its JSON list when the run stops`,
            );
          }
          break;
      }
    }
    await flush();
  }

  function artifactPath(run: RemoteRun, relativePath: string): string {
    const root = run.data.artifactUri ?? "";
    const prefix = "mlflow-artifacts:/";
    if (!root.startsWith(prefix)) {
      throw new TrackError(
        `run ${run.id} stores artifacts at ${root}, which this client cannot write; start the server with --serve-artifacts`,
      );
    }
    const encoded = relativePath.split("/").map(encodeURIComponent).join("/");
    return `/api/2.0/mlflow-artifacts/artifacts/${root.slice(prefix.length).replace(/^\/+/, "")}/${encoded}`;
  }

  async function putArtifact(
    run: RemoteRun,
    relativePath: string,
    body: Buffer,
    signal?: AbortSignal,
  ): Promise<void> {
    await http.request({
      method: "PUT",
      path: artifactPath(run, relativePath),
      body,
      headers: { "content-type": "application/octet-stream" },
      signal,
    });
  }

  return {
    name: "mlflow",
    uri,
    maxBatchItems: 1000,
    createRun,
    logBatch,
    async checkRun(run, signal) {
      const answer = (await api("GET", "runs/get", { run_id: run.id }, signal)) as {
        run?: { info?: { lifecycle_stage?: string } };
      };
      const stage = answer.run?.info?.lifecycle_stage;
      if (stage !== undefined && stage !== "active") {
        throw new TrackError(`MLflow run ${run.id} is ${stage}; it takes no writes`);
      }
    },
    async uploadFile(run, fieldPath, file, signal) {
      await putArtifact(run, `${fieldPath}/${file.name}`, await readFile(file.path), signal);
    },
    async finishRun(run, end, signal) {
      await finishExtras(run, end.stored, signal);
      await api(
        "POST",
        "runs/update",
        { run_id: run.id, status: end.status.toUpperCase(), end_time: end.endTime },
        signal,
      );
    },
    close: () => http.close(),
  };

  async function finishExtras(
    run: RemoteRun,
    stored: StoredRun,
    signal?: AbortSignal,
  ): Promise<void> {
    const tags: unknown[] = [];
    for (const [path, values] of Object.entries(stored.stringSets)) {
      if (path !== "sys/tags")
        tags.push({ key: sanitizeKey(path), value: truncate("tag", path, JSON.stringify(values)) });
    }
    for (let index = 0; index < tags.length; index += mlflowLimits.tagsPerBatch) {
      await sendBatch(
        run,
        { metrics: [], params: [], tags: tags.slice(index, index + mlflowLimits.tagsPerBatch) },
        signal,
      );
    }
    for (const [path, points] of Object.entries(stored.series)) {
      if (stored.fieldTypes[path] !== "stringSeries") continue;
      const text = points
        .map(
          (point) => `${point.step}\t${new Date(point.timestamp).toISOString()}\t${point.value}\n`,
        )
        .join("");
      await putArtifact(run, `${path}.txt`, Buffer.from(text), signal);
    }
  }
}

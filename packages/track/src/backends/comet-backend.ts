import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createHttpClient, type HttpClientOptions } from "../http/http-client";
import { TrackError } from "../track-error";
import { redactUri } from "./backend-auth";
import type { BackendItem, RemoteRun, RemoteRunInfo, TrackingBackend } from "./tracking-backend";

/** Options of {@link createCometBackend}. */
export interface CometBackendOptions {
  /** The Comet server; defaults to `MEDFM_TRACK_URI`, else `https://www.comet.com`. */
  uri?: string;
  /** The workspace; defaults to `COMET_WORKSPACE`. */
  workspace?: string;
  /** Environment for `COMET_API_KEY` and `COMET_WORKSPACE`. */
  env?: Record<string, string | undefined>;
  /** HTTP settings (timeouts, retries). */
  http?: Omit<HttpClientOptions, "baseUrl" | "headers">;
  /** Receives warnings. */
  warn?: (message: string) => void;
}

const write = "/api/rest/v2/write/experiment";

/**
 * Comet over its REST v2 write API (`experiment/create`, `metric`, `parameter`, `tags`,
 * `log-other`, `upload-asset`, `set-end-time`), with the API key in the `Authorization` header.
 * Tested against a contract server written from Comet's public documentation, not against
 * Comet itself.
 *
 * Comet does not deduplicate metric points, so a crash between a delivered batch and the saved
 * sync progress may repeat at most one batch (`maxBatchItems`, 50 items): delivery to Comet is at
 * least once, not exactly once.
 */
export function createCometBackend(options: CometBackendOptions = {}): TrackingBackend {
  const env = options.env ?? process.env;
  const uri = redactUri(options.uri ?? env.MEDFM_TRACK_URI ?? "https://www.comet.com");
  const apiKey = env.COMET_API_KEY;
  const workspace = options.workspace ?? env.COMET_WORKSPACE;
  if (!apiKey) throw new TrackError("the comet backend needs COMET_API_KEY in the environment");
  if (!workspace)
    throw new TrackError("the comet backend needs a workspace (option or COMET_WORKSPACE)");
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const http = createHttpClient({
    ...options.http,
    baseUrl: uri,
    headers: { authorization: apiKey },
  });
  const post = async (path: string, body: unknown, signal?: AbortSignal, retry = true) =>
    (await http.request({ method: "POST", path: `${write}/${path}`, json: body, signal, retry }))
      .json as Record<string, unknown>;
  const stringOf = (item: { type: string; value: number | boolean | string }) =>
    item.type === "datetime" ? new Date(item.value as number).toISOString() : item.value;

  async function logItem(
    experimentKey: string,
    item: BackendItem,
    signal?: AbortSignal,
  ): Promise<void> {
    switch (item.kind) {
      case "metric":
        if (!Number.isFinite(item.value)) {
          warn(
            `@medfm/track comet: ${item.key} step ${item.step} is ${item.value}, sent as a string`,
          );
        }
        await post(
          "metric",
          {
            experimentKey,
            metricName: item.key,
            metricValue: Number.isFinite(item.value) ? item.value : String(item.value),
            step: item.step,
            timestamp: item.timestamp,
          },
          signal,
        );
        return;
      case "param":
        await post(
          "parameter",
          {
            experimentKey,
            parameterName: item.key.slice("params/".length),
            parameterValue: stringOf(item),
          },
          signal,
        );
        return;
      case "attribute":
        await post("log-other", { experimentKey, key: item.key, value: stringOf(item) }, signal);
        return;
      case "text":
        await post("log-other", { experimentKey, key: item.key, value: item.value }, signal);
        return;
      case "setAdd":
        if (item.key === "sys/tags")
          await post("tags", { experimentKey, addedTags: item.values }, signal);
        else
          await post(
            "log-other",
            { experimentKey, key: item.key, value: JSON.stringify(item.values) },
            signal,
          );
        return;
      case "setRemove":
        warn(
          `@medfm/track comet: removing from ${item.key} is not supported by Comet's write API; skipped`,
        );
        return;
    }
  }

  return {
    name: "comet",
    uri,
    maxBatchItems: 50,
    async createRun(info: RemoteRunInfo, signal?: AbortSignal): Promise<RemoteRun> {
      const created = (await post(
        "create",
        {
          workspaceName: workspace,
          projectName: info.project,
          experimentName: info.name ?? info.runId,
        },
        signal,
        false,
      )) as { experimentKey: string };
      await post(
        "log-other",
        { experimentKey: created.experimentKey, key: "medfm_run_id", value: info.runId },
        signal,
      );
      return { id: created.experimentKey, data: {} };
    },
    async logBatch(run, items, signal) {
      for (const item of items) await logItem(run.id, item, signal);
    },
    async uploadFile(run, fieldPath, file, signal) {
      const boundary = `medfm${randomBytes(12).toString("hex")}`;
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name.replace(/"/g, "")}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        await readFile(file.path),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      await http.request({
        method: "POST",
        path: `${write}/upload-asset`,
        query: { experimentKey: run.id, fileName: `${fieldPath}/${file.name}`, overwrite: "true" },
        body,
        headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        signal,
      });
    },
    async finishRun(run, end, signal) {
      await post(
        "log-other",
        { experimentKey: run.id, key: "medfm_status", value: end.status },
        signal,
      );
      await post("set-end-time", { experimentKey: run.id, endTimeMillis: end.endTime }, signal);
    },
    close: () => http.close(),
  };
}

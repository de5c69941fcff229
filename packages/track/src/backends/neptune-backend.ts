import { readFile } from "node:fs/promises";
import { createHttpClient, type HttpClientOptions } from "../http/http-client";
import { TrackError } from "../track-error";
import { redactUri } from "./backend-auth";
import type { BackendItem, RemoteRun, RemoteRunInfo, TrackingBackend } from "./tracking-backend";

/** Options of {@link createNeptuneBackend}. */
export interface NeptuneBackendOptions {
  /** The server; defaults to `MEDFM_TRACK_URI`. */
  uri?: string;
  /** Environment for `NEPTUNE_API_TOKEN`. */
  env?: Record<string, string | undefined>;
  /** HTTP settings (timeouts, retries). */
  http?: Omit<HttpClientOptions, "baseUrl" | "headers">;
  /** Receives warnings. */
  warn?: (message: string) => void;
}

/** One operation of the legacy Neptune wire format: a path and one typed payload. */
export type NeptuneOperation = { path: string } & Record<string, unknown>;

const leaderboard = "/api/leaderboard/v1";

/** Converts backend items to Neptune operations, merging consecutive points of one series. */
export function neptuneOperationsOf(
  items: readonly BackendItem[],
  warn: (message: string) => void,
): NeptuneOperation[] {
  const operations: NeptuneOperation[] = [];
  const assignName = {
    float: "assignFloat",
    int: "assignInt",
    bool: "assignBool",
    string: "assignString",
    datetime: "assignDatetime",
  } as const;
  for (const item of items) {
    const last = operations.at(-1);
    switch (item.kind) {
      case "param":
      case "attribute":
        operations.push({ path: item.key, [assignName[item.type]]: { value: item.value } });
        break;
      case "metric": {
        if (!Number.isFinite(item.value)) {
          warn(
            `@medfm/track neptune: ${item.key} step ${item.step} is ${item.value}, which the wire format cannot carry; skipped`,
          );
          break;
        }
        const entry = { value: item.value, step: item.step, timestampMilliseconds: item.timestamp };
        const log =
          last?.path === item.key
            ? (last.logFloats as { entries: unknown[] } | undefined)
            : undefined;
        if (log) log.entries.push(entry);
        else operations.push({ path: item.key, logFloats: { entries: [entry] } });
        break;
      }
      case "text": {
        const entry = { value: item.value, step: item.step, timestampMilliseconds: item.timestamp };
        const log =
          last?.path === item.key
            ? (last.logStrings as { entries: unknown[] } | undefined)
            : undefined;
        if (log) log.entries.push(entry);
        else operations.push({ path: item.key, logStrings: { entries: [entry] } });
        break;
      }
      case "setAdd":
        operations.push({ path: item.key, addStrings: { values: item.values } });
        break;
      case "setRemove":
        operations.push({ path: item.key, removeStrings: { values: item.values } });
        break;
    }
  }
  return operations;
}

/**
 * The legacy Neptune HTTP wire format, for servers that still speak it: runs created with
 * `POST /api/leaderboard/v1/experiments` (with `customId` set to the local run id, so a repeat
 * finds the same run), fields written by `executeOperations`
 * (`POST /api/leaderboard/v1/attributes/execute?experimentId=...`, a list of `{ path,
 * assignFloat | assignInt | assignBool | assignString | assignDatetime | logFloats | logStrings |
 * addStrings | removeStrings }`), files by `POST /api/leaderboard/v1/attributes/upload?...`, with
 * `NEPTUNE_API_TOKEN` as a bearer token. Tested against a contract server only (Neptune's hosted
 * service closed in 2026); the endpoint paths follow neptune-client's generated API names and may
 * need adjusting for a given server. Neptune ignores points whose step is not above the series'
 * last step, which makes a repeated batch harmless: every point arrives exactly once.
 */
export function createNeptuneBackend(options: NeptuneBackendOptions = {}): TrackingBackend {
  const env = options.env ?? process.env;
  const rawUri = options.uri ?? env.MEDFM_TRACK_URI;
  if (!rawUri)
    throw new TrackError("the neptune backend needs a server URI (option uri or MEDFM_TRACK_URI)");
  const token = env.NEPTUNE_API_TOKEN;
  if (!token)
    throw new TrackError("the neptune backend needs NEPTUNE_API_TOKEN in the environment");
  const uri = redactUri(rawUri);
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const http = createHttpClient({
    ...options.http,
    baseUrl: uri,
    headers: { authorization: `Bearer ${token}` },
  });

  const execute = async (run: RemoteRun, operations: NeptuneOperation[], signal?: AbortSignal) => {
    if (operations.length === 0) return;
    await http.request({
      method: "POST",
      path: `${leaderboard}/attributes/execute`,
      query: { experimentId: run.id },
      json: operations,
      signal,
    });
  };

  return {
    name: "neptune",
    uri,
    maxBatchItems: 1000,
    async createRun(info: RemoteRunInfo, signal?: AbortSignal): Promise<RemoteRun> {
      const response = await http.request({
        method: "POST",
        path: `${leaderboard}/experiments`,
        json: { projectIdentifier: info.project, customId: info.runId, cliVersion: "medfm-track" },
        signal,
      });
      const created = response.json as { id: string };
      if (info.name)
        await execute(
          { id: created.id, data: {} },
          [{ path: "sys/name", assignString: { value: info.name } }],
          signal,
        );
      return { id: created.id, data: {} };
    },
    async logBatch(run, items, signal) {
      await execute(run, neptuneOperationsOf(items, warn), signal);
    },
    async uploadFile(run, fieldPath, file, signal) {
      await http.request({
        method: "POST",
        path: `${leaderboard}/attributes/upload`,
        query: { experimentId: run.id, attribute: fieldPath, fileName: file.name },
        body: await readFile(file.path),
        headers: { "content-type": "application/octet-stream" },
        signal,
      });
    },
    async finishRun(run, end, signal) {
      await execute(
        run,
        [{ path: "sys/failed", assignBool: { value: end.status !== "finished" } }],
        signal,
      );
    },
    close: () => http.close(),
  };
}

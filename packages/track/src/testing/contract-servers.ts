import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Contract servers for the Comet and legacy Neptune backends: they accept exactly the requests
 * the documented wire formats describe (checking the auth header and required fields, answering
 * 400/401 with a message otherwise) and keep what they receive for the tests to compare.
 * Test-only; they are not Comet or Neptune.
 */
export interface ContractServer {
  /** Base URL. */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse, url: URL, body: Buffer) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    try {
      handler(request, response, new URL(request.url ?? "/", "http://localhost"), body);
    } catch (error) {
      send(response, 400, { msg: (error as Error).message, code: 400 });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function required(body: Record<string, unknown>, ...fields: string[]): void {
  for (const field of fields) {
    if (body[field] === undefined) throw new Error(`missing required field ${field}`);
  }
}

/** What the Comet contract server holds per experiment. */
export interface CometExperiment {
  workspaceName: string;
  projectName: string;
  experimentName: string;
  metrics: { metricName: string; metricValue: number | string; step: number; timestamp: number }[];
  parameters: Record<string, unknown>;
  others: Record<string, unknown>;
  tags: string[];
  assets: Record<string, Buffer>;
  endTimeMillis?: number;
}

/** Starts a Comet REST v2 write-API contract server that accepts `apiKey`. */
export async function startCometContractServer(
  apiKey: string,
): Promise<ContractServer & { experiments: Map<string, CometExperiment> }> {
  const experiments = new Map<string, CometExperiment>();
  let next = 0;
  const { url, server } = await listen((request, response, url, raw) => {
    if (request.headers.authorization !== apiKey)
      return send(response, 401, { msg: "Invalid API key", code: 401 });
    const route = url.pathname.replace("/api/rest/v2/write/experiment/", "");
    if (route === "upload-asset") {
      const experiment = experiments.get(url.searchParams.get("experimentKey") ?? "");
      if (!experiment) return send(response, 400, { msg: "unknown experimentKey", code: 400 });
      const boundary = /boundary=(\S+)/.exec(request.headers["content-type"] ?? "")?.[1];
      if (!boundary) throw new Error("upload-asset needs multipart/form-data");
      const start = raw.indexOf("\r\n\r\n") + 4;
      const end = raw.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
      experiment.assets[url.searchParams.get("fileName") ?? ""] = raw.subarray(start, end);
      return send(response, 200, { msg: "uploaded" });
    }
    const body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    if (route === "create") {
      required(body, "workspaceName", "projectName");
      next += 1;
      const experimentKey = `exp${next}`;
      experiments.set(experimentKey, {
        workspaceName: String(body.workspaceName),
        projectName: String(body.projectName),
        experimentName: String(body.experimentName ?? ""),
        metrics: [],
        parameters: {},
        others: {},
        tags: [],
        assets: {},
      });
      return send(response, 200, {
        experimentKey,
        workspaceName: body.workspaceName,
        projectName: body.projectName,
      });
    }
    required(body, "experimentKey");
    const experiment = experiments.get(String(body.experimentKey));
    if (!experiment)
      return send(response, 400, { msg: `unknown experimentKey ${body.experimentKey}`, code: 400 });
    switch (route) {
      case "metric":
        required(body, "metricName", "metricValue");
        experiment.metrics.push(body as never);
        break;
      case "parameter":
        required(body, "parameterName", "parameterValue");
        experiment.parameters[String(body.parameterName)] = body.parameterValue;
        break;
      case "log-other":
        required(body, "key", "value");
        experiment.others[String(body.key)] = body.value;
        break;
      case "tags":
        required(body, "addedTags");
        experiment.tags.push(...(body.addedTags as string[]));
        break;
      case "set-end-time":
        required(body, "endTimeMillis");
        experiment.endTimeMillis = Number(body.endTimeMillis);
        break;
      default:
        return send(response, 404, { msg: `no endpoint ${url.pathname}`, code: 404 });
    }
    send(response, 200, { msg: "ok" });
  });
  return { url, experiments, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** What the Neptune contract server holds per run. */
export interface NeptuneRun {
  projectIdentifier: string;
  customId: string;
  atoms: Record<string, unknown>;
  series: Record<string, { value: number | string; step: number; timestampMilliseconds: number }[]>;
  sets: Record<string, Set<string>>;
  files: Record<string, Buffer>;
}

const assignOps = ["assignFloat", "assignInt", "assignBool", "assignString", "assignDatetime"];

/** Starts a legacy Neptune wire-format contract server that accepts the bearer `token`. */
export async function startNeptuneContractServer(
  token: string,
): Promise<ContractServer & { runs: Map<string, NeptuneRun>; requests: number }> {
  const runs = new Map<string, NeptuneRun>();
  const state = { requests: 0 };
  const { url, server } = await listen((request, response, url, raw) => {
    state.requests += 1;
    if (request.headers.authorization !== `Bearer ${token}`)
      return send(response, 401, { message: "Unauthorized" });
    if (url.pathname === "/api/leaderboard/v1/experiments") {
      const body = JSON.parse(raw.toString("utf8"));
      required(body, "projectIdentifier");
      // customId makes creation idempotent, as sys/custom_run_id does in Neptune.
      for (const [id, run] of runs)
        if (body.customId && run.customId === body.customId) return send(response, 200, { id });
      const id = `RUN-${runs.size + 1}`;
      runs.set(id, {
        projectIdentifier: body.projectIdentifier,
        customId: body.customId,
        atoms: {},
        series: {},
        sets: {},
        files: {},
      });
      return send(response, 200, { id });
    }
    const run = runs.get(url.searchParams.get("experimentId") ?? "");
    if (!run) return send(response, 404, { message: "experiment not found" });
    if (url.pathname === "/api/leaderboard/v1/attributes/upload") {
      run.files[url.searchParams.get("attribute") ?? ""] = raw;
      return send(response, 200, {});
    }
    if (url.pathname !== "/api/leaderboard/v1/attributes/execute")
      return send(response, 404, { message: "no such endpoint" });
    const operations = JSON.parse(raw.toString("utf8")) as Record<
      string,
      { value?: unknown; values?: string[]; entries?: never[] }
    >[];
    for (const operation of operations) {
      const path = operation.path as unknown as string;
      if (typeof path !== "string") throw new Error("operation without path");
      const kind = Object.keys(operation).find((key) => key !== "path") as string;
      const payload = operation[kind];
      if (assignOps.includes(kind)) run.atoms[path] = payload.value;
      else if (kind === "logFloats" || kind === "logStrings") {
        run.series[path] ??= [];
        const series = run.series[path];
        for (const entry of payload.entries ?? []) {
          const { step } = entry as { step: number };
          // Neptune keeps steps strictly increasing: a point at or below the last step is ignored.
          if (series.length === 0 || step > series[series.length - 1].step) series.push(entry);
        }
      } else if (kind === "addStrings") {
        run.sets[path] ??= new Set();
        for (const value of payload.values ?? []) run.sets[path].add(value);
      } else if (kind === "removeStrings")
        for (const value of payload.values ?? []) run.sets[path]?.delete(value);
      else throw new Error(`unknown operation ${kind}`);
    }
    send(response, 200, []);
  });
  return {
    url,
    runs,
    get requests() {
      return state.requests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

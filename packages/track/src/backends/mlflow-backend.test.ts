import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMlflowBackend, mlflowLimits } from "./mlflow-backend";
import type { BackendItem } from "./tracking-backend";

// A recorder of log-batch requests, to check request shapes without a server. The real-server
// tests are in mlflow.integration.test.ts.
let server: Server;
let uri: string;
const batches: {
  bytes: number;
  body: { metrics?: unknown[]; params?: unknown[]; tags?: { key: string; value: string }[] };
}[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      if (request.url?.startsWith("/api/2.0/mlflow/runs/log-batch")) {
        batches.push({ bytes: raw.length, body: JSON.parse(raw.toString("utf8")) });
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        request.url?.startsWith("/api/2.0/mlflow/runs/get") ? '{"run":{"data":{}}}' : "{}",
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("createMlflowBackend log-batch requests", () => {
  it("stay within MLflow's per-request limits and 1 MB, losing nothing", async () => {
    batches.length = 0;
    const warnings: string[] = [];
    const backend = createMlflowBackend({ uri, warn: (message) => warnings.push(message) });
    const items: BackendItem[] = [];
    for (let index = 0; index < 2500; index += 1) {
      items.push({
        kind: "metric",
        key: `m/${index % 3}`,
        value: index,
        step: index,
        timestamp: 1,
      });
    }
    for (let index = 0; index < 250; index += 1) {
      items.push({ kind: "param", key: `params/p${index}`, type: "int", value: index });
      items.push({
        kind: "attribute",
        key: `info/t${index}`,
        type: "string",
        value: "y".repeat(3000),
      });
    }
    items.push({ kind: "param", key: "params/long", type: "string", value: "z".repeat(7000) });
    items.push({ kind: "setAdd", key: "sys/tags", values: ["ok tag", "bad!tag"] });
    await backend.logBatch({ id: "r1", data: {} }, items);
    await backend.close();
    for (const { bytes, body } of batches) {
      expect(body.metrics?.length ?? 0).toBeLessThanOrEqual(mlflowLimits.metricsPerBatch);
      expect(body.params?.length ?? 0).toBeLessThanOrEqual(mlflowLimits.paramsPerBatch);
      expect(body.tags?.length ?? 0).toBeLessThanOrEqual(mlflowLimits.tagsPerBatch);
      expect(
        (body.metrics?.length ?? 0) + (body.params?.length ?? 0) + (body.tags?.length ?? 0),
      ).toBeLessThanOrEqual(mlflowLimits.entitiesPerBatch);
      expect(bytes).toBeLessThan(mlflowLimits.batchBytes);
    }
    const count = (list: "metrics" | "params" | "tags") =>
      batches.reduce((sum, { body }) => sum + (body[list]?.length ?? 0), 0);
    expect(count("metrics")).toBe(2500);
    expect(count("params")).toBe(251);
    expect(count("tags")).toBe(252);
    const tags = batches.flatMap(({ body }) => body.tags ?? []);
    expect(tags.map((tag) => tag.key)).toContain("bad_tag");
    const params = batches.flatMap(
      ({ body }) => (body.params ?? []) as { key: string; value: string }[],
    );
    expect(params.find((param) => param.key === "long")?.value).toHaveLength(6000);
    expect(warnings.join("\n")).toMatch(
      /param long has 7000 characters; truncated to MLflow's 6000/,
    );
    expect(warnings.join("\n")).toMatch(/key "bad!tag" is sent as "bad_tag"/);
  });

  it("logs a changed param as a tag, with a warning, instead of failing the batch", async () => {
    batches.length = 0;
    const warnings: string[] = [];
    const backend = createMlflowBackend({ uri, warn: (message) => warnings.push(message) });
    await backend.logBatch({ id: "r2", data: {} }, [
      { kind: "param", key: "params/lr", type: "float", value: 0.1 },
      { kind: "param", key: "params/lr", type: "float", value: 0.01 },
    ]);
    await backend.close();
    const body = batches[0].body;
    expect(body.params).toEqual([{ key: "lr", value: "0.1" }]);
    expect(body.tags).toEqual([{ key: "params/lr", value: "0.01" }]);
    expect(warnings[0]).toMatch(/param lr changed from 0.1 to 0.01/);
  });

  it("keeps two keys longer than 250 characters apart, each within the limit, with a warning", async () => {
    batches.length = 0;
    const warnings: string[] = [];
    const backend = createMlflowBackend({ uri, warn: (message) => warnings.push(message) });
    const stem = `val/${"per_class_average_precision_".repeat(10)}`;
    const first = `${stem}Atelectasis`;
    const second = `${stem}Cardiomegaly`;
    expect(stem.length).toBeGreaterThan(mlflowLimits.keyLength);
    await backend.logBatch({ id: "r3", data: {} }, [
      { kind: "metric", key: first, value: 0.5, step: 0, timestamp: 1 },
      { kind: "metric", key: second, value: 0.7, step: 0, timestamp: 1 },
      { kind: "param", key: `params/${first}`, type: "int", value: 1 },
      { kind: "param", key: `params/${second}`, type: "int", value: 2 },
    ]);
    await backend.close();
    const metrics = batches.flatMap(
      ({ body }) => (body.metrics ?? []) as { key: string; value: number }[],
    );
    const params = batches.flatMap(
      ({ body }) => (body.params ?? []) as { key: string; value: string }[],
    );
    for (const sent of [metrics, params]) {
      expect(sent).toHaveLength(2);
      expect(new Set(sent.map((entry) => entry.key)).size).toBe(2);
      for (const entry of sent) {
        expect(entry.key.length).toBeLessThanOrEqual(mlflowLimits.keyLength);
        expect(entry.key).toMatch(/_[0-9a-f]{8}$/);
      }
    }
    expect(metrics.map((metric) => metric.value)).toEqual([0.5, 0.7]);
    expect(warnings.join("\n")).toMatch(
      /key "val\/per_class.*Atelectasis" has 295 characters, more than MLflow's 250; it is sent as "val\/per_class.*_[0-9a-f]{8}"/,
    );
  });
});

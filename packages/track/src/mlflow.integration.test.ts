import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mlflow } from "./backends/mlflow";
import { createMlflowBackend } from "./backends/mlflow-backend";
import { initRun } from "./init-run";
import { readRun, type StoredRun } from "./read-run";
import { readQuarantine, syncRun } from "./sync-run";
import { FaultProxy } from "./testing/fault-proxy";
import {
  findMlflowRun,
  findMlflowTestServer,
  metricHistory,
  mlflowSkipMessage,
} from "./testing/mlflow-test-server";
import { spawnLogger } from "./testing/spawn-logger";

const uri = await findMlflowTestServer();
if (!uri) console.warn(mlflowSkipMessage);

describe.runIf(!uri && process.env.CI === "true")("MLflow server under CI", () => {
  it("is running (CI must start scripts/mlflow/start.sh)", () => {
    expect.fail(mlflowSkipMessage);
  });
});

const root = mkdtempSync(join(tmpdir(), "medfm-track-mlflow-"));
const project = `medfm-track-test-${process.pid}-${Date.now()}`;
const quiet = () => {};

/** Compares every float series point and every param of a local run with its MLflow copy. */
async function expectOnServer(server: string, stored: StoredRun): Promise<void> {
  const remote = await findMlflowRun(server, stored.project, stored.id);
  const params = Object.fromEntries(
    remote.data.params?.map((p: { key: string; value: string }) => [p.key, p.value]) ?? [],
  );
  for (const [key, value] of Object.entries(stored.params)) expect(params[key]).toBe(String(value));
  for (const [path, points] of Object.entries(stored.series)) {
    if (stored.fieldTypes[path] !== "floatSeries") continue;
    const history = await metricHistory(server, remote.info.run_id, path);
    history.sort((a, b) => a.step - b.step);
    expect(history.length, `points of ${path}`).toBe(points.length);
    for (let index = 0; index < points.length; index += 1) {
      expect(history[index].step).toBe(points[index].step);
      expect(history[index].timestamp).toBe(points[index].timestamp);
      expect(Number(history[index].value)).toBe(points[index].value);
    }
  }
}

describe.skipIf(!uri)("mlflow backend against a real MLflow server", () => {
  const server = uri as string;

  it("logs params, tags, 10,000 points over 4 keys and an artifact; reads back every value", async () => {
    const artifact = join(root, "model.bin");
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, index) => (index * 7) % 256));
    writeFileSync(artifact, bytes);
    const run = initRun({
      root,
      project,
      name: "integration",
      tags: ["chest", "densenet"],
      backend: mlflow({ uri: server, warn: quiet }),
    });
    run.params = { lr: 0.001, optimizer: "adam", epochs: 30, pretrained: true };
    run["params/note"] = "x".repeat(7000);
    const keys = ["train/loss", "train/acc", "val/mAP", "val/AUC"];
    for (let step = 0; step < 2500; step += 1) {
      for (const [index, key] of keys.entries()) {
        run[key].append(Math.sin(step * 0.01 + index) * 10 ** (index - 2), {
          timestamp: 1_700_000_000_000 + step,
        });
      }
    }
    run["model/best"].upload(artifact);
    await run.stop();

    const stored = readRun(run.path as string);
    const remote = await findMlflowRun(server, project, run.id);
    expect(remote.info.status).toBe("FINISHED");
    expect(remote.info.run_name).toBe("integration");
    const tags = Object.fromEntries(
      remote.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]),
    );
    expect(tags.chest).toBe("true");
    expect(tags.densenet).toBe("true");
    const params = Object.fromEntries(
      remote.data.params.map((p: { key: string; value: string }) => [p.key, p.value]),
    );
    expect(params).toMatchObject({
      lr: "0.001",
      optimizer: "adam",
      epochs: "30",
      pretrained: "true",
    });
    expect(params.note).toBe("x".repeat(6000));
    stored.params.note = "x".repeat(6000);
    await expectOnServer(server, stored);
    const artifactUri = remote.info.artifact_uri.replace("mlflow-artifacts:/", "");
    const response = await fetch(
      `${server}/api/2.0/mlflow-artifacts/artifacts/${artifactUri}/model/best/model.bin`,
    );
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  describe("faults, through a local proxy", () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = new FaultProxy(server);
    });
    afterAll(async () => {
      await proxy.close();
    });

    const fastHttp = { maxRetries: 2, baseDelayMs: 5, maxDelayMs: 50, connectTimeoutMs: 2000 };

    it("server down at the start: the run goes into the journal and a later sync delivers all", async () => {
      await proxy.reserveRefused();
      const warnings: string[] = [];
      const run = initRun({
        root,
        project,
        backend: mlflow({ uri: proxy.url, http: fastHttp, retryDelayMs: 20, warn: quiet }),
        warn: (message) => warnings.push(message),
        timeoutMs: 300,
      });
      run["params/lr"] = 0.5;
      for (let step = 0; step < 1500; step += 1) run["train/loss"].append(1 / (step + 1));
      await run.stop();
      expect(warnings.join("\n")).toMatch(/medfm track sync --path/);
      await proxy.listen();
      const backend = createMlflowBackend({ uri: proxy.url, warn: quiet });
      const result = await syncRun(run.path as string, backend);
      await backend.close();
      expect(result.finished).toBe(true);
      const stored = readRun(run.path as string);
      await expectOnServer(server, stored);
      expect((await findMlflowRun(server, project, run.id)).info.status).toBe("FINISHED");
    });

    it("sends credentials from the environment in headers only, never to disk", async () => {
      await proxy.close();
      await proxy.listen();
      const seen = new Set<string>();
      proxy.decide = (_n, request) => {
        seen.add(String(request.headers.authorization));
        return "pass";
      };
      const token = "s3cr3t-token-from-env";
      const run = initRun({
        root,
        project,
        backend: mlflow({ uri: proxy.url, env: { MLFLOW_TRACKING_TOKEN: token }, warn: quiet }),
      });
      run["params/lr"] = 0.1;
      run["train/loss"].extend([1, 2]);
      await run.stop();
      proxy.decide = () => "pass";
      expect([...seen]).toEqual([`Bearer ${token}`]);
      const files = readdirSync(run.path as string, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name));
      expect(files.length).toBeGreaterThan(1);
      for (const file of files) expect(readFileSync(file, "utf8")).not.toContain(token);
    });

    it("connections dropped mid-run, before and after the server acts: every point exactly once", async () => {
      await proxy.close();
      await proxy.listen();
      proxy.decide = (n) =>
        n % 5 === 2 ? "drop" : n % 5 === 4 ? "drop-after" : n % 11 === 0 ? { status: 503 } : "pass";
      const run = initRun({
        root,
        project,
        backend: mlflow({ uri: proxy.url, http: fastHttp, retryDelayMs: 10, warn: quiet }),
        warn: quiet,
        flushIntervalMs: 5,
      });
      for (let step = 0; step < 4000; step += 1) {
        run["train/loss"].append(step % 97, { step });
        if (step % 500 === 499) await run.wait();
      }
      await run.stop();
      proxy.decide = () => "pass";
      const stored = readRun(run.path as string);
      expect(stored.series["train/loss"]).toHaveLength(4000);
      await expectOnServer(server, stored);
      expect(proxy.requests).toBeGreaterThan(10);
    });

    it("SIGKILL mid-run: a later sync delivers every journaled point exactly once", async () => {
      await proxy.close();
      await proxy.listen();
      // A slow, lossy server, so the child dies with deliveries half done.
      proxy.decide = (n) => (n % 4 === 3 ? "drop-after" : "pass");
      const logger = spawnLogger([root, proxy.url, "100000000", "500", "yes", "no"]);
      const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
      const [, waited] = await logger.waitFor(/LOGGED ([3-9]\d{3})/);
      logger.process.kill("SIGKILL");
      expect((await logger.exited).signal).toBe("SIGKILL");
      proxy.decide = () => "pass";
      const stored = readRun(path);
      expect(stored.status).toBe("running");
      // Every point waited for is journaled; later ones may be too.
      expect(stored.series["train/loss"].length).toBeGreaterThanOrEqual(Number(waited));
      const backend = createMlflowBackend({ uri: proxy.url, warn: quiet });
      await syncRun(path, backend);
      await backend.close();
      const remote = await findMlflowRun(server, "medfm-track-child", stored.id);
      const history = await metricHistory(server, remote.info.run_id, "train/loss");
      const steps = history.map((point) => point.step).sort((a, b) => a - b);
      expect(steps).toEqual(stored.series["train/loss"].map((point) => point.step));
      expect(new Set(steps).size).toBe(steps.length);
    });

    it("a sync that crashes midway, even after the server took a batch, then syncs again: exactly once", async () => {
      await proxy.close();
      await proxy.listen();
      const run = initRun({ root, project, mode: "offline" });
      for (let step = 0; step < 5000; step += 1) run["val/loss"].append(step * 0.5);
      run["params/seed"] = 7;
      await run.stop();
      // The 4th request reaches the server but its answer is lost, and the sync gives up there.
      proxy.decide = (n) => (n >= 4 ? "drop-after" : "pass");
      const failing = createMlflowBackend({ uri: proxy.url, http: { maxRetries: 0 }, warn: quiet });
      await expect(syncRun(run.path as string, failing)).rejects.toThrow();
      await failing.close();
      proxy.decide = () => "pass";
      const backend = createMlflowBackend({ uri: proxy.url, warn: quiet });
      expect((await syncRun(run.path as string, backend)).finished).toBe(true);
      // A repeated sync of a finished run sends nothing.
      expect((await syncRun(run.path as string, backend)).itemsSent).toBe(0);
      await backend.close();
      await expectOnServer(server, readRun(run.path as string));
    });

    it("params logged while log-batch answers 500 arrive once the server recovers", async () => {
      await proxy.close();
      await proxy.listen();
      // The first 6 log-batch requests fail: with 2 retries, two delivery attempts fail whole.
      let logBatches = 0;
      proxy.decide = (_n, request) =>
        request.url?.includes("runs/log-batch") && ++logBatches <= 6 ? { status: 500 } : "pass";
      const run = initRun({
        root,
        project,
        backend: mlflow({ uri: proxy.url, http: fastHttp, retryDelayMs: 20, warn: quiet }),
        warn: quiet,
      });
      run["params/lr"] = 0.003;
      run["params/optimizer"] = "adamw";
      for (let step = 0; step < 300; step += 1) run["train/loss"].append(1 / (step + 1));
      await run.stop();
      proxy.decide = () => "pass";
      expect(logBatches).toBeGreaterThan(6);
      const remote = await findMlflowRun(server, project, run.id);
      expect(remote.info.status).toBe("FINISHED");
      await expectOnServer(server, readRun(run.path as string));
      const params = Object.fromEntries(
        remote.data.params.map((p: { key: string; value: string }) => [p.key, p.value]),
      );
      expect(params).toEqual({ lr: "0.003", optimizer: "adamw" });
    });

    it("an item the server rejects is quarantined and reported; the rest is delivered", async () => {
      await proxy.close();
      await proxy.listen();
      const run = initRun({ root, project, mode: "offline" });
      run["params/lr"] = 0.25;
      for (let step = 0; step < 200; step += 1) {
        run["train/loss"].append(step * 0.25);
        if (step % 50 === 0) run["val/rejected"].append(step);
      }
      run["val/after"] = "kept";
      await run.stop();
      // The server answers 400 to any batch holding the key, as MLflow does to a key it refuses.
      proxy.decide = (_n, request, body) =>
        request.url?.includes("runs/log-batch") && body.includes('"val/rejected"')
          ? { status: 400 }
          : "pass";
      const warnings: string[] = [];
      const backend = createMlflowBackend({ uri: proxy.url, warn: quiet });
      const result = await syncRun(run.path as string, backend, {
        warn: (message) => warnings.push(message),
      });
      expect(result.finished).toBe(true);
      expect(result.quarantined).toBe(4);
      expect(warnings).toHaveLength(4);
      expect(warnings[0]).toMatch(
        /rejected an item of val\/rejected \(journal seq \d+\): INVALID_PARAMETER_VALUE: injected 400; it is kept in .*quarantine\.jsonl and the rest of the run is delivered/,
      );
      const quarantined = readQuarantine(run.path as string);
      expect(
        quarantined.map((entry) => [entry.path, (entry.item as { value: number }).value]),
      ).toEqual([
        ["val/rejected", 0],
        ["val/rejected", 50],
        ["val/rejected", 100],
        ["val/rejected", 150],
      ]);
      // A second sync neither resends nor requarantines.
      expect((await syncRun(run.path as string, backend)).itemsSent).toBe(0);
      await backend.close();
      proxy.decide = () => "pass";
      expect(readQuarantine(run.path as string)).toHaveLength(4);
      const stored = readRun(run.path as string);
      delete stored.series["val/rejected"];
      await expectOnServer(server, stored);
      const remote = await findMlflowRun(server, project, run.id);
      expect(remote.info.status).toBe("FINISHED");
      const tags = Object.fromEntries(
        remote.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]),
      );
      expect(tags["val/after"]).toBe("kept");
      expect(await metricHistory(server, remote.info.run_id, "val/rejected")).toEqual([]);
    });

    it("a run deleted on the server fails the sync instead of quarantining every item", async () => {
      await proxy.close();
      await proxy.listen();
      const run = initRun({ root, project, mode: "offline" });
      for (let step = 0; step < 3000; step += 1) run["train/loss"].append(step);
      await run.stop();
      // The first sync creates the remote run and gives up after a batch; then it is deleted.
      let logBatches = 0;
      proxy.decide = (_n, request) =>
        request.url?.includes("runs/log-batch") && ++logBatches >= 2 ? "drop" : "pass";
      const failing = createMlflowBackend({ uri: proxy.url, http: { maxRetries: 0 }, warn: quiet });
      await expect(syncRun(run.path as string, failing)).rejects.toThrow();
      await failing.close();
      proxy.decide = () => "pass";
      const remote = await findMlflowRun(server, project, run.id);
      const deleted = await fetch(`${server}/api/2.0/mlflow/runs/delete`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ run_id: remote.info.run_id }),
      });
      expect(deleted.ok).toBe(true);
      const backend = createMlflowBackend({ uri: proxy.url, warn: quiet });
      await expect(syncRun(run.path as string, backend, { warn: quiet })).rejects.toThrow(
        new RegExp(`MLflow run ${remote.info.run_id} is deleted; it takes no writes`),
      );
      await backend.close();
      expect(readQuarantine(run.path as string)).toEqual([]);
    });
  });
});

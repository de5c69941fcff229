import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InitRunOptions, initRun } from "../init-run";
import { readRun } from "../read-run";
import { syncRun } from "../sync-run";
import { startCometContractServer, startNeptuneContractServer } from "../testing/contract-servers";
import { comet } from "./comet";
import { createCometBackend } from "./comet-backend";
import { neptune } from "./neptune";
import { createNeptuneBackend } from "./neptune-backend";

const quiet = () => {};
const root = mkdtempSync(join(tmpdir(), "medfm-track-contract-"));
const artifact = join(root, "weights.bin");
writeFileSync(artifact, Buffer.from([9, 8, 7, 6, 5]));

/** Logs the same realistic run to any backend factory. */
async function logRun(backend: InitRunOptions["backend"], project: string) {
  const run = initRun({
    root,
    project,
    name: "contract",
    tags: ["chest", "demo"],
    backend,
    warn: quiet,
  });
  run.params = { lr: 0.01, optimizer: "sgd", epochs: 3, pretrained: false };
  for (let step = 0; step < 300; step += 1) {
    run["train/loss"].append(1 / (step + 1), { timestamp: 1_700_000_000_000 + step });
    if (step % 100 === 0) run["val/mAP"].append(step / 1000, { step: step / 100 });
  }
  run["train/log"].append("epoch 1 done");
  run["model/best"].upload(artifact);
  await run.stop();
  return readRun(run.path as string);
}

describe("comet backend against the Comet REST v2 contract server", () => {
  let server: Awaited<ReturnType<typeof startCometContractServer>>;
  beforeAll(async () => {
    server = await startCometContractServer("comet-key");
  });
  afterAll(() => server.close());

  it("delivers params, tags, every metric point, others and the asset", async () => {
    const stored = await logRun(
      comet({ uri: server.url, workspace: "ws", env: { COMET_API_KEY: "comet-key" }, warn: quiet }),
      "chest-comet",
    );
    const [experiment] = [...server.experiments.values()];
    expect(experiment).toMatchObject({
      workspaceName: "ws",
      projectName: "chest-comet",
      experimentName: "contract",
    });
    expect(experiment.parameters).toEqual({
      lr: 0.01,
      optimizer: "sgd",
      epochs: 3,
      pretrained: false,
    });
    expect(experiment.tags.sort()).toEqual(["chest", "demo"]);
    for (const key of ["train/loss", "val/mAP"]) {
      const sent = experiment.metrics.filter((metric) => metric.metricName === key);
      expect(sent.map((metric) => [metric.step, metric.metricValue, metric.timestamp])).toEqual(
        stored.series[key].map((point) => [point.step, point.value, point.timestamp]),
      );
    }
    expect(experiment.others).toMatchObject({
      medfm_run_id: stored.id,
      "train/log": "epoch 1 done",
      medfm_status: "finished",
    });
    expect([...experiment.assets["model/best/weights.bin"]]).toEqual([9, 8, 7, 6, 5]);
    expect(experiment.endTimeMillis).toBe(stored.stoppedAt?.getTime());
  });

  it("fails with the server's message on a wrong API key, without retrying", async () => {
    const run = initRun({
      root,
      mode: "offline",
      backend: comet({ uri: server.url, workspace: "ws" }),
    });
    run["train/loss"].append(1);
    await run.stop();
    const backend = createCometBackend({
      uri: server.url,
      workspace: "ws",
      env: { COMET_API_KEY: "wrong" },
    });
    await expect(syncRun(run.path as string, backend)).rejects.toThrow(
      /answered 401: Invalid API key/,
    );
    await backend.close();
  });
});

describe("neptune backend against the legacy Neptune contract server", () => {
  let server: Awaited<ReturnType<typeof startNeptuneContractServer>>;
  const env = { NEPTUNE_API_TOKEN: "neptune-token" };
  beforeAll(async () => {
    server = await startNeptuneContractServer("neptune-token");
  });
  afterAll(() => server.close());

  it("delivers assigns, series, string sets and files as executeOperations", async () => {
    const stored = await logRun(neptune({ uri: server.url, env, warn: quiet }), "ws/chest");
    const [run] = [...server.runs.values()];
    expect(run.projectIdentifier).toBe("ws/chest");
    expect(run.customId).toBe(stored.id);
    expect(run.atoms).toMatchObject({
      "params/lr": 0.01,
      "params/optimizer": "sgd",
      "params/epochs": 3,
      "params/pretrained": false,
      "sys/name": "contract",
      "sys/failed": false,
    });
    expect([...run.sets["sys/tags"]].sort()).toEqual(["chest", "demo"]);
    for (const key of ["train/loss", "val/mAP"]) {
      expect(
        run.series[key].map((entry) => [entry.step, entry.value, entry.timestampMilliseconds]),
      ).toEqual(stored.series[key].map((point) => [point.step, point.value, point.timestamp]));
    }
    expect(run.series["train/log"].map((entry) => entry.value)).toEqual(["epoch 1 done"]);
    expect([...run.files["model/best"]]).toEqual([9, 8, 7, 6, 5]);
  });

  it("a sync repeated from old progress finds the same run and adds no point twice", async () => {
    const run = initRun({
      root,
      project: "ws/resync",
      mode: "offline",
      backend: neptune({ uri: server.url, env }),
    });
    for (let step = 0; step < 2500; step += 1) run["train/loss"].append(step);
    await run.stop();
    const folder = run.path as string;
    const backend = createNeptuneBackend({ uri: server.url, env, warn: quiet });
    // Progress as saved after the first batch only, then the whole sync: a crash replayed.
    const first = await syncRun(folder, backend);
    expect(first.finished).toBe(true);
    writeFileSync(
      join(folder, "sync.json"),
      JSON.stringify({
        version: 1,
        backend: "neptune",
        uri: backend.uri,
        remote: undefined,
        offset: 0,
        itemsDone: 0,
        operationsDone: 0,
        finished: false,
      }),
    );
    await syncRun(folder, backend);
    await backend.close();
    const remote = [...server.runs.values()].filter((candidate) => candidate.customId === run.id);
    expect(remote).toHaveLength(1);
    expect(remote[0].series["train/loss"].map((entry) => entry.value)).toEqual(
      Array.from({ length: 2500 }, (_, index) => index),
    );
  });
});

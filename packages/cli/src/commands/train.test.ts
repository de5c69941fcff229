import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSyntheticDataset } from "@medfm/data";
import { readRun } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfmLines as medfm } from "../testing/run-medfm";
import { spawnMedfm } from "../testing/spawn-medfm";
import { outputLockFileName } from "../train/output-lock";

/** Whether this process can create a file in `folder`. */
function canWrite(folder: string): boolean {
  const probe = join(folder, ".probe");
  try {
    writeFileSync(probe, "");
    rmSync(probe);
    return true;
  } catch {
    return false;
  }
}

const workDir = mkdtempSync(join(tmpdir(), "medfm-train-cli-"));
const startDir = process.cwd();

describe("medfm train", () => {
  beforeAll(() => {
    process.chdir(workDir);
    process.env.MEDFM_BACKEND = "wasm";
    process.env.CI = "true"; // plain progress lines, no bar
  });
  afterAll(() => {
    process.chdir(startDir);
    rmSync(workDir, { recursive: true, force: true });
  });

  it("trains endo on a synthetic dataset, checkpoints, and resumes to more epochs", async () => {
    const common = [
      "train",
      "--task",
      "endo",
      "--image-size",
      "32",
      "--batch-size",
      "16",
      "--output",
      "ck",
    ];
    const first = await medfm([...common, "--epochs", "2"]);
    const epochLines = first.filter((line) => line.startsWith("epoch "));
    expect(epochLines).toHaveLength(2);
    expect(epochLines[1]).toMatch(
      /^epoch 2\/2 {2}loss \d\.\d{4} {2}mAP \d+\.\d{2} \(chance \d+\.\d{2}\) {2}AUC \d+\.\d{2}/,
    );
    expect(existsSync(join(workDir, "ck", "best", "model.json"))).toBe(true);
    const runPath = first.at(-1)!.match(/stored in (.+)$/)![1];
    const run = readRun(runPath);
    expect(run.params.task).toBe("endo");
    expect(run.series["val/mAP"]).toHaveLength(2);

    const resumed = await medfm([...common, "--epochs", "3", "--resume"]);
    const resumedEpochs = resumed.filter((line) => line.startsWith("epoch "));
    expect(resumedEpochs).toHaveLength(1);
    expect(resumedEpochs[0]).toMatch(/^epoch 3\/3/);

    // From saved weights, the run records the architecture they hold (the tiny preset's
    // configuration is named "densenet"), not the --backbone flag.
    const fromWeights = await medfm(
      [...common.slice(0, -1), "ck-weights", "--epochs", "1"].concat([
        "--weights",
        join("ck", "best"),
        "--backbone",
        "vit-tiny-patch16",
      ]),
    );
    const weightsRun = readRun(fromWeights.at(-1)!.match(/stored in (.+)$/)![1]);
    expect(weightsRun.params).toMatchObject({
      backbone: "densenet",
      weights: join("ck", "best"),
    });
  });

  it("refuses an image size the backbone would shrink to nothing", async () => {
    await expect(
      medfm(["train", "--task", "colon", "--image-size", "24", "--epochs", "1"]),
    ).rejects.toThrow(
      /--image-size 24 is too small for densenet-tiny \(4 dense blocks\): use at least 32/,
    );
  });

  it("refuses a name-only list for training or validation, naming the file, before any model work", async () => {
    // A labelled synthetic dataset, then its names alone, as in test_WithoutLabel.txt.
    const dataset = await generateSyntheticDataset({
      task: "endo",
      outputDir: join(workDir, "names-only-dataset"),
      imageSize: 32,
      seed: 0,
    });
    const { dataRoot, trainAnnotation, valAnnotation } = dataset;
    const namesOnly = join(workDir, "names-only.txt");
    const names = readFileSync(trainAnnotation, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" ")[0]);
    writeFileSync(namesOnly, `${names.join("\n")}\n`);
    const common = [
      "train",
      "--task",
      "endo",
      "--image-size",
      "32",
      "--epochs",
      "1",
      "--data-root",
      dataRoot,
    ];
    await expect(
      medfm([
        ...common,
        "--train-ann",
        namesOnly,
        "--val-ann",
        valAnnotation,
        "--output",
        "ck-unlabelled",
      ]),
    ).rejects.toThrow(`--train-ann ${namesOnly}: has no labels (a name-only list`);
    await expect(
      medfm([
        ...common,
        "--train-ann",
        trainAnnotation,
        "--val-ann",
        namesOnly,
        "--output",
        "ck-unlabelled",
      ]),
    ).rejects.toThrow(`--val-ann ${namesOnly}: has no labels`);
    expect(existsSync(join(workDir, "ck-unlabelled"))).toBe(false);
  });

  const oneEpoch = (output: string) => [
    "train",
    "--task",
    "endo",
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--output",
    output,
  ];

  it("refuses an output folder that cannot be created before training, naming the folder", async () => {
    // A folder under a regular file cannot be created by anyone, root included.
    writeFileSync(join(workDir, "a-file"), "not a folder\n");
    const underFile = join(workDir, "a-file", "ck");
    // Before the fix this failed only after the first epoch, with ENOENT from the checkpoint.
    await expect(medfm(oneEpoch(underFile))).rejects.toThrow(
      `cannot write checkpoints into ${underFile}: ENOTDIR`,
    );
  });

  // Root ignores permission bits, so a chmod 555 folder stays writable for root: skipped there
  // (the test above covers the same check in a way root cannot bypass).
  it.skipIf(process.getuid?.() === 0)(
    "refuses a read-only (chmod 555) output folder before training, naming the folder",
    async () => {
      const readOnly = join(workDir, "read-only");
      mkdirSync(readOnly);
      chmodSync(readOnly, 0o555);
      try {
        expect(canWrite(readOnly), "the test needs a folder this user cannot write").toBe(false);
        await expect(medfm(oneEpoch(readOnly))).rejects.toThrow(
          new RegExp(`^cannot write checkpoints into ${readOnly}: EACCES`),
        );
      } finally {
        chmodSync(readOnly, 0o755);
      }
    },
  );

  it("rejects an unknown task with the allowed choices", async () => {
    await expect(medfm(["train", "--task", "knee"])).rejects.toThrow(
      /'knee' is invalid.*chest, colon, endo/,
    );
  });
});

describe("medfm train in a process of its own", () => {
  const folder = mkdtempSync(join(tmpdir(), "medfm-train-process-"));
  const env = { MEDFM_BACKEND: "wasm", MEDFM_TRACK_ROOT: join(folder, "runs") };
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  const trainArgs = (output: string, epochs: number) => [
    "train",
    "--task",
    "endo",
    "--image-size",
    "32",
    "--batch-size",
    "4",
    "--epochs",
    String(epochs),
    "--gradcam",
    "0",
    "--output",
    output,
  ];

  it("Ctrl-C mid-epoch finishes the batch, saves last/ there, stops the run as killed, exits 130", async () => {
    const child = spawnMedfm(trainArgs("ck", 3), { cwd: folder, env });
    const [, batches] = await child.waitFor(/epoch 2\/3 batch 20\/(\d+)/);
    child.process.kill("SIGINT");
    const { code, output } = await child.exited;
    expect(code, output).toBe(130);
    expect(output).toContain("Stopping after this batch and saving a checkpoint");
    const state = JSON.parse(
      readFileSync(join(folder, "ck", "last", "trainer-state.json"), "utf8"),
    );
    // The batch in progress, not the end of epoch 1 (epoch 1, 0 batches, which is all the
    // checkpoint held when the process exited inside the batch).
    expect(state.epoch).toBe(1);
    expect(state.batchesDone).toBeGreaterThanOrEqual(20);
    expect(state.batchesDone).toBeLessThan(Number(batches));
    expect(state.step).toBe(Number(batches) + state.batchesDone);
    const runPath = output.match(/stored in (.+)$/m)![1];
    const run = readRun(runPath);
    expect(run.status).toBe("killed");
    expect(run.values["train/interrupted_at_step"]).toBe(state.step);
    // Every batch the checkpoint holds was logged, and none after it.
    expect(run.series["train/loss"]).toHaveLength(state.step);

    expect(existsSync(join(folder, "ck", outputLockFileName))).toBe(false);
    const resumed = spawnMedfm([...trainArgs("ck", 3), "--resume"], { cwd: folder, env });
    const end = await resumed.exited;
    expect(end.code, end.output).toBe(0);
    expect(end.output.match(/^epoch \d\/3 {2}loss/gm)).toEqual([
      "epoch 2/3  loss",
      "epoch 3/3  loss",
    ]);
  });

  it("--head mlp: Ctrl-C then --resume ends with the weights and metrics of an uninterrupted run", async () => {
    const mlpArgs = (output: string) => [...trainArgs(output, 2), "--head", "mlp"];
    const straight = await spawnMedfm(mlpArgs("mlp-straight"), { cwd: folder, env }).exited;
    expect(straight.code, straight.output).toBe(0);
    const interrupted = spawnMedfm(mlpArgs("mlp-resumed"), { cwd: folder, env });
    await interrupted.waitFor(/epoch 2\/2 batch 10\//);
    interrupted.process.kill("SIGINT");
    expect((await interrupted.exited).code).toBe(130);
    const resumed = await spawnMedfm([...mlpArgs("mlp-resumed"), "--resume"], {
      cwd: folder,
      env,
    }).exited;
    expect(resumed.code, resumed.output).toBe(0);
    // The loss of epoch 2 averages only the batches after the resume; the metrics are whole.
    const metricsOfEpoch2 = (output: string) =>
      output.match(/^epoch 2\/2 {2}loss \S+ {2}(.+AUC \S+)/m)?.[1];
    expect(metricsOfEpoch2(resumed.output)).toBeDefined();
    expect(metricsOfEpoch2(resumed.output)).toBe(metricsOfEpoch2(straight.output));
    const weights = (output: string) => readFileSync(join(folder, output, "last", "weights.bin"));
    expect(weights("mlp-resumed").equals(weights("mlp-straight"))).toBe(true);
  });

  it("refuses a second training into an output folder in use, and takes over a dead holder's", async () => {
    const first = spawnMedfm(trainArgs("shared", 3), { cwd: folder, env });
    await first.waitFor(/epoch 1\/3 batch 10\//);
    const second = await spawnMedfm(trainArgs("shared", 1), { cwd: folder, env }).exited;
    expect(second.code).toBe(1);
    expect(second.output).toContain(
      `${join(folder, "shared")} is in use by another training (pid ${first.process.pid} on `,
    );
    expect(second.output).not.toMatch(/^epoch 1\/1/m);
    // A holder killed outright leaves its lock behind; its pid is dead, so the lock is stale.
    first.process.kill("SIGKILL");
    await first.exited;
    expect(existsSync(join(folder, "shared", outputLockFileName))).toBe(true);
    const third = await spawnMedfm(trainArgs("shared", 1), { cwd: folder, env }).exited;
    expect(third.code, third.output).toBe(0);
    expect(existsSync(join(folder, "shared", outputLockFileName))).toBe(false);
  });
});

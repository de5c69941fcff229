import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRun } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfmLines as medfm } from "../testing/run-medfm";

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
  });

  it("refuses an image size the backbone would shrink to nothing", async () => {
    await expect(
      medfm(["train", "--task", "colon", "--image-size", "24", "--epochs", "1"]),
    ).rejects.toThrow(
      /--image-size 24 is too small for densenet-tiny \(4 dense blocks\): use at least 32/,
    );
  });

  it("rejects an unknown task with the allowed choices", async () => {
    await expect(medfm(["train", "--task", "knee"])).rejects.toThrow(
      /'knee' is invalid.*chest, colon, endo/,
    );
  });
});

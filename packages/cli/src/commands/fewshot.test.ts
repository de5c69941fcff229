import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";
import { parseIntegerList } from "./fewshot";

const workDir = mkdtempSync(join(tmpdir(), "medfm-fewshot-"));
const startDir = process.cwd();

describe("parseIntegerList", () => {
  it("reads lists, ranges and mixes, sorted and unique", () => {
    expect(parseIntegerList("1,5,10")).toEqual([1, 5, 10]);
    expect(parseIntegerList("1-5")).toEqual([1, 2, 3, 4, 5]);
    expect(parseIntegerList("5,1-3,3")).toEqual([1, 2, 3, 5]);
  });

  it("names the bad value", () => {
    expect(() => parseIntegerList("1,x")).toThrow(/got "1,x"/);
    expect(() => parseIntegerList("5-2")).toThrow(/bad range 5-2/);
  });
});

describe("medfm fewshot", () => {
  beforeAll(() => {
    process.chdir(workDir);
    process.env.MEDFM_BACKEND = "wasm";
  });
  afterAll(() => {
    process.chdir(startDir);
    rmSync(workDir, { recursive: true, force: true });
  });

  it("runs the protocol on generated few-shot files: every shot × experiment, summary, score", async () => {
    const output = await runMedfm([
      "fewshot",
      "--task",
      "endo",
      "--shots",
      "1,5",
      "--exps",
      "1-2",
      "--image-size",
      "32",
      "--json",
    ]);
    const results = JSON.parse(output);
    expect(
      results.rows.map(
        (row: { shot: number; experiment: number }) => `${row.shot}/${row.experiment}`,
      ),
    ).toEqual(["1/1", "1/2", "5/1", "5/2"]);
    for (const row of results.rows) {
      expect(row.mAP).toBeGreaterThan(0);
      expect(row.AUC).toBeGreaterThan(0);
      expect(row.evaluated).toBe(120);
    }
    // More shots, more support images.
    expect(results.rows[2].support).toBeGreaterThan(results.rows[0].support);
    const fiveShotMap = results.summary.find(
      (entry: { shot: number; metric: string }) => entry.shot === 5 && entry.metric === "mAP",
    );
    expect(fiveShotMap.mean).toBeCloseTo((results.rows[2].mAP + results.rows[3].mAP) / 2, 12);
    const all = results.rows.flatMap((row: { mAP: number; AUC: number }) => [row.mAP, row.AUC]);
    expect(results.score.score).toBeCloseTo(
      all.reduce((a: number, b: number) => a + b, 0) / all.length,
      12,
    );
  });

  it("adapts a ViT by visual prompt tuning and by linear probe (--backbone, --method vpt --prompts --deep)", async () => {
    const fewshot = (args: string[]) =>
      runMedfm([
        "fewshot",
        "--task",
        "colon",
        ...args,
        "--shots",
        "1",
        "--exps",
        "1",
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--json",
      ]);
    const run = async (method: string, extra: string[] = []) =>
      JSON.parse(await fewshot(["--backbone", "vit-tiny-patch16", "--method", method, ...extra]));
    for (const results of [
      await run("vpt", ["--prompts", "2", "--deep"]),
      await run("linear-probe"),
    ]) {
      expect(results.rows).toHaveLength(1);
      expect(results.rows[0].evaluated).toBeGreaterThan(0);
      expect(results.rows[0].accuracy).toBeGreaterThanOrEqual(0);
      expect(results.rows[0].AUC).toBeGreaterThanOrEqual(0);
    }
    // A DenseNet has no prompt tokens: the error points at the pixel-frame prompt.
    await expect(fewshot(["--method", "vpt"])).rejects.toThrow(
      /no prompt tokens; prompt a CNN with the pixel-frame visual-prompt method/,
    );
  }, 300_000);

  it("names the missing annotation file", async () => {
    await expect(
      runMedfm([
        "fewshot",
        "--task",
        "chest",
        "--data-root",
        workDir,
        "--anns",
        workDir,
        "--shots",
        "1",
        "--exps",
        "1",
      ]),
    ).rejects.toThrow(/chest_1-shot_train_exp1\.txt: no such annotation file \(1-shot, exp1\)/);
  });
});

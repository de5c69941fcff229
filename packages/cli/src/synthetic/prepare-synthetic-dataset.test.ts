import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSyntheticDataset, getTask } from "@medfm/data";
import { describe, expect, it } from "vitest";
import { prepareSyntheticDataset, writeSyntheticFewShotFiles } from "./prepare-synthetic-dataset";

describe("prepareSyntheticDataset", () => {
  it("gives concurrent preparations of two seeds in one folder each its own complete data", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-synthetic-race-"));
    const task = getTask("colon");
    // Four processes' worth of preparations at once: two per seed.
    const prepared = await Promise.all(
      [0, 1, 0, 1].map(async (seed) => {
        const dataset = await prepareSyntheticDataset({ task, imageSize: 16, seed, root });
        const anns = await writeSyntheticFewShotFiles(dataset, {
          task,
          shots: [1],
          experiments: [1, 2],
          seed,
        });
        return { seed, dataset, anns };
      }),
    );
    expect(readdirSync(root).sort()).toEqual([
      "synthetic-colon-16px-seed0",
      "synthetic-colon-16px-seed1",
    ]);
    for (const seed of [0, 1]) {
      const alone = await generateSyntheticDataset({
        task: "colon",
        outputDir: mkdtempSync(join(tmpdir(), "medfm-synthetic-alone-")),
        imageSize: 16,
        seed,
      });
      for (const { dataset, anns } of prepared.filter((entry) => entry.seed === seed)) {
        expect(readFileSync(dataset.trainAnnotation, "utf8")).toBe(
          readFileSync(alone.trainAnnotation, "utf8"),
        );
        expect(readFileSync(dataset.valAnnotation, "utf8")).toBe(
          readFileSync(alone.valAnnotation, "utf8"),
        );
        expect(readdirSync(dataset.dataRoot).sort()).toEqual(readdirSync(alone.dataRoot).sort());
        expect(readdirSync(anns).sort()).toEqual([
          "colon_1-shot_train_exp1.txt",
          "colon_1-shot_train_exp2.txt",
          "colon_1-shot_val_exp1.txt",
          "colon_1-shot_val_exp2.txt",
        ]);
      }
    }
    expect(readFileSync(join(prepared[0].anns, "colon_1-shot_train_exp1.txt"), "utf8")).not.toBe(
      readFileSync(join(prepared[1].anns, "colon_1-shot_train_exp1.txt"), "utf8"),
    );
  });
});

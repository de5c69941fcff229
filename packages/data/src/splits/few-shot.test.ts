import { existsSync } from "node:fs";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readAnnotationFile } from "../annotations/read-annotation-file";
import { checkLeakage } from "../leakage";
import { getTask } from "../tasks";
import type { Sample } from "../types";
import { fewShotFileName, sampleFewShot, writeFewShotFiles } from "./few-shot";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) console.warn(`few-shot tests on real files skipped: ${annotationsRoot} is absent`);

const sample = (name: string, labels: number[], group?: string): Sample => ({
  name,
  labels: new Uint8Array(labels),
  ...(group ? { group } : {}),
});

describe("sampleFewShot", () => {
  it("draws K units per class, rarest class first, and reports a class short of units", () => {
    const pool = [
      sample("a.png", [1, 0]),
      sample("b.png", [1, 0]),
      sample("c.png", [1, 1]),
      sample("d.png", [1, 0]),
      sample("a.png", [1, 0]),
    ];
    const [experiment] = sampleFewShot(pool, { shots: 2, experiments: 1, classes: ["x", "y"] });
    // Class y (rarest) gets c.png; class x then two of a, b, d.
    expect(experiment.train.map((item) => item.name)).toContain("c.png");
    expect(experiment.train).toHaveLength(3);
    expect(experiment.shortfalls).toEqual([{ className: "y", wanted: 2, got: 1 }]);
    expect(experiment.droppedDuplicates).toBe(1);
    expect(experiment.val).toHaveLength(1);
  });

  it("takes a drawn group's images of its class, keeping the rest out of val", () => {
    const pool = [
      sample("s1_a.png", [1, 0], "s1"),
      sample("s1_b.png", [0, 0], "s1"),
      sample("s1_c.png", [1, 1], "s1"),
      sample("s2_a.png", [0, 1], "s2"),
      sample("s3_a.png", [0, 0], "s3"),
    ];
    const [positive] = sampleFewShot(pool, { shots: 1, experiments: 1 });
    // Class 0 (one group) draws s1; class 1 then only s2 is left.
    expect(positive.train.map((item) => item.name)).toEqual(["s1_a.png", "s1_c.png", "s2_a.png"]);
    expect(positive.excluded.map((item) => item.name)).toEqual(["s1_b.png"]);
    expect(positive.val.map((item) => item.name)).toEqual(["s3_a.png"]);
    const [all] = sampleFewShot(pool, { shots: 1, experiments: 1, take: "all" });
    expect(all.train).toHaveLength(4);
    expect(all.excluded).toEqual([]);
  });

  it("draws whole groups and is deterministic per seed", () => {
    const pool = Array.from({ length: 40 }, (_, index) =>
      sample(`p${index % 10}_${index}.png`, index % 10 < 5 ? [1, 0] : [0, 1], `p${index % 10}`),
    );
    const experiments = sampleFewShot(pool, { shots: 1, seed: 3 });
    expect(experiments).toHaveLength(5);
    for (const experiment of experiments) {
      expect(experiment.units).toBe(2);
      expect(experiment.train).toHaveLength(8);
      expect(new Set(experiment.train.map((item) => item.group)).size).toBe(2);
    }
    expect(sampleFewShot(pool, { shots: 1, seed: 3 })).toEqual(experiments);
    const draws = new Set(
      experiments.map((experiment) => experiment.train.map((item) => item.group).join()),
    );
    expect(draws.size).toBeGreaterThan(1);
    expect(() => sampleFewShot(pool, { shots: 0 })).toThrow(
      /shots must be a positive integer, got 0/,
    );
  });
});

describe.skipIf(!hasShared)("K-shot sets from the real trainval lists", () => {
  it("follows the MedFM protocol without the official files' overlap and duplicates", async () => {
    for (const taskName of ["chest", "colon", "endo"]) {
      const task = getTask(taskName);
      const { samples } = await readAnnotationFile(
        join(annotationsRoot, taskName, "trainval.txt"),
        { task },
      );
      for (const shots of [1, 5, 10]) {
        const experiments = sampleFewShot(samples, { shots, seed: 0, classes: task.classes });
        for (const experiment of experiments) {
          const report = checkLeakage(
            [
              { name: "train", samples: experiment.train },
              { name: "val", samples: experiment.val },
            ],
            { groupKey: task.groupKey },
          );
          expect(report.clean).toBe(true);
          expect(experiment.train.length + experiment.val.length + experiment.excluded.length).toBe(
            samples.length - experiment.droppedDuplicates,
          );
          // MedFM protocol: a drawn group contributes its images positive for some drawn class.
          for (const item of experiment.train)
            expect(item.labels.some((value) => value === 1)).toBe(true);
          const unitsOf = new Set(experiment.train.map((item) => item.group ?? item.name));
          expect(unitsOf.size).toBe(experiment.units);
          expect(experiment.units).toBeLessThanOrEqual(shots * task.classes.length);
          // A class falls short only when the pool has fewer than K units positive for it.
          for (const shortfall of experiment.shortfalls) {
            const label = task.classes.indexOf(shortfall.className);
            const positiveUnits = new Set(
              samples.filter((item) => item.labels[label]).map((item) => item.group ?? item.name),
            );
            expect(shortfall.got).toBe(positiveUnits.size);
          }
          for (let label = 0; label < task.classes.length; label += 1) {
            const units = new Set(
              experiment.train
                .filter((item) => item.labels[label])
                .map((item) => item.group ?? item.name),
            );
            const wanted =
              experiment.shortfalls.find((item) => item.className === task.classes[label])?.got ??
              shots;
            expect(units.size).toBeGreaterThanOrEqual(wanted);
          }
        }
      }
    }
  });

  it("with val: rest, keeps every other image in val, still without a shared name", async () => {
    const task = getTask("endo");
    const { samples } = await readAnnotationFile(join(annotationsRoot, "endo/trainval.txt"), {
      task,
    });
    const strict = sampleFewShot(samples, { shots: 10, seed: 0, experiments: 1 })[0];
    const rest = sampleFewShot(samples, { shots: 10, seed: 0, experiments: 1, val: "rest" })[0];
    expect(rest.train).toEqual(strict.train);
    expect(rest.excluded).toEqual([]);
    expect(rest.val.length).toBe(strict.val.length + strict.excluded.length);
    const report = checkLeakage([
      { name: "train", samples: rest.train },
      { name: "val", samples: rest.val },
    ]);
    expect(report.overlap).toEqual([]);
    expect(report.duplicates).toEqual([]);
  });

  it("writes files named like the official ones that read back", async () => {
    const task = getTask("endo");
    const { samples } = await readAnnotationFile(join(annotationsRoot, "endo/trainval.txt"), {
      task,
    });
    const experiments = sampleFewShot(samples, { shots: 5, seed: 1 });
    const folder = await mkdtemp(join(tmpdir(), "medfm-fewshot-"));
    await writeFewShotFiles(folder, task, 5, experiments);
    const official = (await readdir(join(annotationsRoot, "endo"))).filter((file) =>
      file.startsWith("endo_5-shot"),
    );
    expect((await readdir(folder)).sort()).toEqual(official.sort());
    expect(fewShotFileName("chest", 10, "val", 3)).toBe("chest_10-shot_val_exp3.txt");
    const back = await readAnnotationFile(join(folder, "endo_5-shot_train_exp2.txt"), {
      task,
      duplicates: "error",
    });
    expect(back.samples.map((item) => item.name)).toEqual(
      experiments[1].train.map((item) => item.name),
    );
  });
});

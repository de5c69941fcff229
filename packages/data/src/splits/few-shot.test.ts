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
          expect(experiment.train.length + experiment.val.length).toBe(
            samples.length - experiment.droppedDuplicates,
          );
          const shortOf = experiment.shortfalls.reduce(
            (sum, item) => sum + item.wanted - item.got,
            0,
          );
          expect(experiment.units).toBe(shots * task.classes.length - shortOf);
          const unitsOf = new Set(experiment.train.map((item) => item.group ?? item.name));
          expect(unitsOf.size).toBe(experiment.units);
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

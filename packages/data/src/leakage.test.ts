import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readAnnotationFile } from "./annotations/read-annotation-file";
import { checkLeakage, formatLeakageReport } from "./leakage";
import { getTask } from "./tasks";
import type { Sample } from "./types";

const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) console.warn(`leakage tests on real files skipped: ${annotationsRoot} is absent`);

const sample = (name: string, labels: number[], line?: number): Sample => ({
  name,
  labels: new Uint8Array(labels),
  ...(line ? { line } : {}),
});

describe("checkLeakage", () => {
  it("finds duplicates, name overlap and group overlap with examples", () => {
    const train = [
      sample("p1_a.png", [1, 0], 1),
      sample("p1_a.png", [0, 1], 2),
      sample("p2_a.png", [1, 0], 3),
    ];
    const val = [
      sample("p2_a.png", [1, 0]),
      sample("p1_b.png", [0, 1]),
      sample("p3_a.png", [0, 1]),
    ];
    const report = checkLeakage(
      [
        { name: "train", samples: train },
        { name: "val", samples: val },
      ],
      { groupKey: (name) => name.slice(0, 2) },
    );
    expect(report.clean).toBe(false);
    expect(report.duplicates).toEqual([
      {
        list: "train",
        count: 1,
        names: 1,
        conflicting: 1,
        examples: [{ name: "p1_a.png", lines: [1, 2] }],
      },
    ]);
    expect(report.overlap).toEqual([
      { lists: ["train", "val"], count: 1, fractionOfFirst: 0.5, examples: ["p2_a.png"] },
    ]);
    expect(report.groupOverlap[0]).toMatchObject({
      count: 2,
      samplesInFirst: 3,
      samplesInSecond: 2,
    });
    expect(report.groupOverlap[0].examples[0]).toEqual({
      group: "p1",
      first: "p1_a.png",
      second: "p1_b.png",
    });
    expect(formatLeakageReport(report)).toContain("overlap train / val: 1 names (50.0% of train)");
  });

  it("is clean for disjoint lists and says when groups are unknown", () => {
    const report = checkLeakage([
      { name: "a", samples: [sample("x.png", [1])] },
      { name: "b", samples: [sample("y.png", [1])] },
    ]);
    expect(report.clean).toBe(true);
    expect(report.groupsChecked).toBe(false);
    expect(formatLeakageReport(report)).toContain("no duplicates, no overlap");
  });

  it.skipIf(!hasShared)(
    "shows the official chest and endo few-shot train/val overlap",
    async () => {
      for (const taskName of ["chest", "endo", "colon"]) {
        const task = getTask(taskName);
        const read = (file: string) =>
          readAnnotationFile(join(annotationsRoot, taskName, file), { task });
        const train = await read(`${taskName}_10-shot_train_exp1.txt`);
        const val = await read(`${taskName}_10-shot_val_exp1.txt`);
        const report = checkLeakage(
          [
            { name: "train", samples: train.samples },
            { name: "val", samples: val.samples },
          ],
          { groupKey: task.groupKey },
        );
        const valNames = new Set(val.samples.map((item) => item.name));
        const shared = new Set(
          train.samples.map((item) => item.name).filter((name) => valNames.has(name)),
        );
        const repeatedLines =
          train.samples.length - new Set(train.samples.map((item) => item.name)).size;
        if (taskName === "colon") {
          // The colon files are the clean ones: K patients per class, no overlap.
          expect(shared.size).toBe(0);
          expect(report.clean).toBe(true);
          continue;
        }
        expect(shared.size).toBeGreaterThan(0);
        expect(repeatedLines).toBeGreaterThan(0);
        expect(report.overlap[0].count).toBe(shared.size);
        expect(report.overlap[0].examples.every((name) => valNames.has(name))).toBe(true);
        expect(report.duplicates[0].count).toBe(repeatedLines);
        if (taskName === "endo") expect(report.groupOverlap[0].count).toBeGreaterThan(0);
      }
    },
  );
});

import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { getTask } from "../tasks";
import { AnnotationError } from "./annotation-error";
import { readAnnotationFile } from "./read-annotation-file";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const samplesRoot = resolve(repositoryRoot, "../shared/samples");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) {
  console.warn(`medfmc-anns tests skipped: ${annotationsRoot} is absent (CI provides ../shared)`);
}

describe.skipIf(!hasShared)("the real MedFMC annotation files", () => {
  it("parses every file and finds the README's counts", async () => {
    const counts: Record<string, number> = {};
    for (const taskName of ["chest", "colon", "endo"]) {
      const task = getTask(taskName);
      const files = readdirSync(join(annotationsRoot, taskName)).filter((file) =>
        file.endsWith(".txt"),
      );
      expect(files).toHaveLength(35);
      for (const file of files) {
        const set = await readAnnotationFile(join(annotationsRoot, taskName, file), { task });
        counts[`${taskName}/${file}`] = set.samples.length;
        expect(set.format).toBe(
          file === "test_WithoutLabel.txt"
            ? "medfmc-names"
            : { chest: "medfmc-comma", colon: "medfmc-index", endo: "medfmc-space" }[taskName],
        );
        expect(set.warnings.filter((warning) => warning.code !== "duplicate")).toEqual([]);
      }
    }
    expect(counts["chest/trainval.txt"]).toBe(979);
    expect(counts["chest/test_WithLabel.txt"]).toBe(1161);
    expect(counts["chest/test_WithoutLabel.txt"]).toBe(2708);
    expect(counts["colon/trainval.txt"]).toBe(2358);
    expect(counts["colon/test_WithLabel.txt"]).toBe(3296);
    expect(counts["endo/trainval.txt"]).toBe(929);
    expect(counts["endo/test_WithLabel.txt"]).toBe(881);
    // train_20 + val_20 partition trainval (train_20 holds about 80%).
    for (const taskName of ["chest", "colon", "endo"]) {
      expect(counts[`${taskName}/train_20.txt`] + counts[`${taskName}/val_20.txt`]).toBe(
        counts[`${taskName}/trainval.txt`],
      );
    }
  });

  it("reports the duplicate lines of the official chest and endo few-shot train files", async () => {
    const chest = await readAnnotationFile(
      join(annotationsRoot, "chest/chest_10-shot_train_exp1.txt"),
      {
        task: getTask("chest"),
      },
    );
    expect(chest.duplicates.length).toBeGreaterThan(0);
    expect(chest.duplicates.every((duplicate) => duplicate.sameLabels)).toBe(true);
    const distinct = new Set(chest.samples.map((sample) => sample.name)).size;
    const extra = chest.duplicates.reduce((sum, duplicate) => sum + duplicate.lines.length - 1, 0);
    expect(distinct + extra).toBe(chest.samples.length);
    const endo = await readAnnotationFile(
      join(annotationsRoot, "endo/endo_10-shot_train_exp1.txt"),
      {
        task: getTask("endo"),
      },
    );
    expect(endo.duplicates.length).toBeGreaterThan(0);
    await expect(
      readAnnotationFile(join(annotationsRoot, "endo/endo_10-shot_train_exp1.txt"), {
        task: getTask("endo"),
        duplicates: "error",
      }),
    ).rejects.toThrow(/endo_10-shot_train_exp1\.txt:\d+: duplicate of line \d+/);
  });

  it("finds no tumor positive in endo test_WithLabel", async () => {
    const set = await readAnnotationFile(join(annotationsRoot, "endo/test_WithLabel.txt"), {
      task: getTask("endo"),
    });
    expect(set.samples.some((sample) => sample.labels[3] === 1)).toBe(false);
    expect(set.samples.some((sample) => sample.labels[2] === 1)).toBe(true);
  });

  it("reports every image missing under a data root at once", async () => {
    const error = await readAnnotationFile(
      join(annotationsRoot, "chest/chest_1-shot_train_exp1.txt"),
      {
        task: getTask("chest"),
        dataRoot: samplesRoot,
      },
    ).catch((caught: unknown) => caught);
    expect(AnnotationError.isInstance(error)).toBe(true);
    const issues = (error as AnnotationError).issues;
    expect(issues).toHaveLength(19);
    expect(issues.every((issue) => issue.code === "missing-image")).toBe(true);
    expect(issues[0].line).toBe(1);
    expect((error as AnnotationError).message).toContain(
      "chest_1-shot_train_exp1.txt:1: image not found under",
    );
  });
});
